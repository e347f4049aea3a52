"""THE wave state machine: wave and host states, and every transition in one table.

Operator commands (run, resume, resume with an override, retry-failed, abort) are checked
against ``WAVE_COMMANDS`` before anything runs; how a run ends is not remembered from "what
the run happened to do" but recomputed from the recorded host states each time
(``derive``), so every path (a run, a resume, retry-failed, recovery after kill -9) ends in
the state the facts say. The README's state table is generated from these tables
(``markdown_table``); do not draw it by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class WaveState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    WAITING = "waiting"  # hosts wait for their maintenance windows
    PAUSED = "paused"  # hosts left to run and nothing blocks them (after retry-failed)
    HALTED = "halted"  # canary failed or failure budget exceeded
    INTERRUPTED = "interrupted"  # Ctrl-C, a lost execution node
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    ABORTED = "aborted"


class HostState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"  # updated to the target and verified
    ALREADY_AT_TARGET = "already_at_target"  # verified only: no package action, no restart
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"  # refused by the pre-checks, not touched
    EXCLUDED = "excluded"  # not entitled (at plan time or when its turn came)
    DEFERRED = "deferred"  # no maintenance window within the horizon
    CANCELLED = "cancelled"  # the wave was aborted before the host started


class Command(StrEnum):
    RUN = "run"
    RESUME = "resume"
    OVERRIDE_HALT = "resume --override-halt"
    RETRY_FAILED = "retry-failed"
    ABORT = "abort"


class Event(StrEnum):
    """What a host or the engine reports; the host table says where each one leads."""

    START = "gates passed, host started"
    NOT_ENTITLED = "contract not active on the start date"
    WINDOW_CLOSED = "window closed or < 15 min left"
    NO_WINDOW = "no window within the horizon"
    UPDATED = "updated and verified"
    AT_TARGET = "already at target, verified"
    REFUSED = "refused by the pre-checks"
    FAILED = "failed or unreachable"
    ROLLED_BACK = "failed and rolled back"
    RECHECK_DONE = "re-check after a crash: verified at target"
    RECHECK_AGAIN = "re-check after a crash: healthy, not at target"
    RECHECK_FAILED = "re-check after a crash: unhealthy or unreachable"
    RETRY = "retry-failed"
    ABORT = "wave aborted"


SUCCESS = frozenset({HostState.DONE, HostState.ALREADY_AT_TARGET})
FAILURES = frozenset({HostState.FAILED, HostState.ROLLED_BACK})
UNSUCCESSFUL = FAILURES | {HostState.SKIPPED}
FINAL = SUCCESS | UNSUCCESSFUL | {HostState.EXCLUDED, HostState.DEFERRED, HostState.CANCELLED}
FINISHED_WAVES = frozenset(
    {WaveState.COMPLETED, WaveState.COMPLETED_WITH_FAILURES, WaveState.ABORTED}
)
_STOPPED = (WaveState.WAITING, WaveState.PAUSED, WaveState.INTERRUPTED)


@dataclass(frozen=True)
class Rule:
    to: WaveState
    rule: str


# (wave state, operator command) -> where it goes, and the rule that applies. A pair not in
# the table is refused with a message naming the wave and what to do instead. A wave found
# RUNNING is one whose run died (kill -9): its locks tell a live run from a dead one.
WAVE_COMMANDS: dict[tuple[WaveState, Command], Rule] = {
    (WaveState.PLANNED, Command.RUN): Rule(WaveState.RUNNING, "first run"),
    (WaveState.PLANNED, Command.RESUME): Rule(WaveState.RUNNING, "same as run"),
    (WaveState.PLANNED, Command.ABORT): Rule(WaveState.ABORTED, "never started"),
    **{
        (s, Command.RESUME): Rule(WaveState.RUNNING, "in-flight hosts re-checked first")
        for s in (WaveState.RUNNING, *_STOPPED)
    },
    (WaveState.HALTED, Command.OVERRIDE_HALT): Rule(
        WaveState.RUNNING, "only with --reason; recorded with the actor"
    ),
    **{
        (s, Command.RETRY_FAILED): Rule(
            WaveState.RUNNING, "failed, rolled-back and skipped hosts only; waiting stay waiting"
        )
        for s in (*_STOPPED, WaveState.HALTED, WaveState.COMPLETED_WITH_FAILURES)
    },
    **{
        (s, Command.ABORT): Rule(WaveState.ABORTED, "hosts not started are cancelled")
        for s in (WaveState.RUNNING, *_STOPPED, WaveState.HALTED)
    },
}

# (host state, event) -> next host state.
HOST_EVENTS: dict[tuple[HostState, Event], HostState] = {
    (HostState.PENDING, Event.START): HostState.RUNNING,
    (HostState.PENDING, Event.NOT_ENTITLED): HostState.EXCLUDED,
    (HostState.PENDING, Event.WINDOW_CLOSED): HostState.PENDING,
    (HostState.PENDING, Event.NO_WINDOW): HostState.DEFERRED,
    (HostState.PENDING, Event.ABORT): HostState.CANCELLED,
    (HostState.RUNNING, Event.ABORT): HostState.FAILED,  # in flight in a dead run: unknown
    (HostState.RUNNING, Event.UPDATED): HostState.DONE,
    (HostState.RUNNING, Event.AT_TARGET): HostState.ALREADY_AT_TARGET,
    (HostState.RUNNING, Event.REFUSED): HostState.SKIPPED,
    (HostState.RUNNING, Event.FAILED): HostState.FAILED,
    (HostState.RUNNING, Event.ROLLED_BACK): HostState.ROLLED_BACK,
    (HostState.RUNNING, Event.RECHECK_DONE): HostState.DONE,
    (HostState.RUNNING, Event.RECHECK_AGAIN): HostState.PENDING,
    (HostState.RUNNING, Event.RECHECK_FAILED): HostState.FAILED,
    **{(s, Event.RETRY): HostState.PENDING
       for s in (HostState.FAILED, HostState.ROLLED_BACK, HostState.SKIPPED)},
}

# How a run ends, from the recorded facts (first match wins); see ``derive``.
WAVE_ENDS: tuple[tuple[str, WaveState], ...] = (
    ("a halt verdict stands (canary failed, budget exceeded), is not overridden, and hosts "
     "are left", WaveState.HALTED),
    ("a host is still running (its execution node was lost)", WaveState.INTERRUPTED),
    ("hosts wait for their maintenance windows", WaveState.WAITING),
    ("hosts are pending and nothing blocks them (retry-failed ran only some): "
     "`wave resume`", WaveState.PAUSED),
    ("every host final, some failed, rolled back or skipped", WaveState.COMPLETED_WITH_FAILURES),
    ("every host final and none unsuccessful", WaveState.COMPLETED),
)


class TransitionRefused(Exception):
    """A command the table does not allow from the wave's state."""


def command_rule(state: WaveState, command: Command) -> Rule:
    rule = WAVE_COMMANDS.get((state, command))
    if rule is None:
        raise TransitionRefused(f"`{command}` is not allowed on a wave that is {state}")
    return rule


def host_next(state: HostState, event: Event) -> HostState:
    nxt = HOST_EVENTS.get((state, event))
    if nxt is None:
        raise TransitionRefused(f"host event {event!r} is not allowed in state {state}")
    return nxt


def derive(states: Iterable[HostState], *, halted: bool, waiting: bool) -> WaveState:
    """The wave's state after a run, from its hosts' recorded states (level-triggered)."""
    hosts = list(states)
    if halted:
        return WaveState.HALTED
    if any(s == HostState.RUNNING for s in hosts):
        return WaveState.INTERRUPTED
    if any(s == HostState.PENDING for s in hosts):
        return WaveState.WAITING if waiting else WaveState.PAUSED
    if any(s in UNSUCCESSFUL for s in hosts):
        return WaveState.COMPLETED_WITH_FAILURES
    return WaveState.COMPLETED


def markdown_table() -> str:
    """The README's table of operator commands, generated from ``WAVE_COMMANDS``."""
    grouped: dict[tuple[Command, Rule], list[str]] = {}
    for (state, command), rule in WAVE_COMMANDS.items():
        grouped.setdefault((command, rule), []).append(str(state))
    lines = ["| command | allowed when the wave is | goes to | rule |", "|---|---|---|---|"]
    for (command, rule), states in grouped.items():
        lines.append(f"| `{command}` | {', '.join(states)} | {rule.to} | {rule.rule} |")
    lines.append("\nAny other command is refused with the reason and what to do instead "
                 "(a halted wave: `retry-failed` or `resume --override-halt --reason`).")
    lines += ["", "| a run ends … | when |", "|---|---|"]
    lines += [f"| {state} | {why} |" for why, state in WAVE_ENDS]
    lines += ["", "| host state | event | next host state |", "|---|---|---|"]
    lines += [f"| {s} | {e} | {n} |" for (s, e), n in HOST_EVENTS.items()]
    return "\n".join(lines)
