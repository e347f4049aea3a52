"""The wave engine: drives a saved WavePlan through the executor as transitions of the one
state machine in states.py. Every host step is written to the ledger before and after it
runs. Before each group of hosts starts, the halt verdict is recomputed from the recorded
host states (budget.py) and each host passes its gates (gates.py: contract, window); hosts
in flight when an earlier run died are verified first (recovery.py). How the run ends is
derived from the recorded states (``states.derive``), never from what this run did."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import executor
from ..errors import HostError, NotFoundError, RefusedError
from ..fleet import Fleet
from ..inventory import render_inventory
from ..ledger import ActionRecord, Ledger
from ..ledger import waves as wl
from ..model import PbxRelease
from ..planner import MIN_RUN_WINDOW, PlannedHost, WavePlan
from ..platforms import profile
from ..settings import Settings
from ..sipprobe import SipProbeResult, probe
from . import events as ev
from .budget import Budget, verdict
from .gates import Gate, Gates
from .locks import Locks
from .recovery import Verifier
from .releasevars import playbook_and_vars
from .results import HostResult, classify
from .states import (
    Command,
    Event,
    HostState,
    TransitionRefused,
    WaveState,
    command_rule,
    derive,
    host_next,
)
from .steps import advances, step_of

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RunOptions:
    rollback_on_failure: bool = True
    max_failures: int | None = None  # absolute count that halts the wave
    max_failure_percent: float = 20.0  # of hosts attempted so far
    min_attempted: int = 3  # attempts before the percentage can trip
    ignore_windows: bool = False  # emergency override, recorded in the ledger
    min_window_left: timedelta = MIN_RUN_WINDOW
    max_window_wait: timedelta = timedelta(0)  # how long to sleep for a window to open
    call_poll_seconds: int = 10
    only_hosts: tuple[str, ...] = ()  # retry-failed: restrict to these
    override_reason: str = ""  # resume --override-halt --reason

    @property
    def budget(self) -> Budget:
        return Budget(self.max_failures, self.max_failure_percent, self.min_attempted)


@dataclass
class WaveOutcome:
    wave_id: int
    status: str
    reason: str = ""
    hosts: dict[str, str] = field(default_factory=dict)  # hostname -> final/current state

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for state in self.hosts.values():
            out[state] = out.get(state, 0) + 1
        return out


class Driver:
    """What the engine drives: ansible-runner (through executor) and the controller's SIP
    probe. The model-based test substitutes a simulated driver; the lab tests use this."""

    def run_playbook(self, settings: Settings, playbook: str, inventory: dict[str, Any],
                     hosts: list[str], **kw: Any) -> executor.RunResult:
        return executor.run_playbook(settings, playbook, inventory, hosts, **kw)

    def probe(self, address: str) -> SipProbeResult:
        return probe(address, timeout=3.0)

    def orphans(self, settings: Settings, prefix: str) -> list[str]:
        return [*map(str, executor.orphaned_runs(settings, prefix)),
                *executor.orphaned_node_runs(settings, prefix)]

    def clear_leftovers(self, settings: Settings, prefix: str) -> None:
        executor.clear_node_leftovers(settings, prefix)


def refusal(wave_id: int, state: WaveState, command: Command, reason: str) -> str:
    """The operator's message when the table refuses a command, naming what to do."""
    if state == WaveState.HALTED and command in (Command.RUN, Command.RESUME):
        return f"wave {wave_id} is halted: {reason}"
    if state == WaveState.COMPLETED_WITH_FAILURES and command != Command.RETRY_FAILED:
        return (f"wave {wave_id} is already {state}: `pbxops wave retry-failed {wave_id}` "
                "runs its failed hosts again")
    if state in (WaveState.COMPLETED, WaveState.COMPLETED_WITH_FAILURES,
                 WaveState.ABORTED):
        return (f"wave {wave_id} is already {state}; to run the release again, plan a new "
                "wave (`pbxops wave plan --release ...`)")
    if command == Command.OVERRIDE_HALT:
        return f"wave {wave_id} is {state}, not halted: nothing to override"
    if command == Command.RUN:
        return f"wave {wave_id} was already started ({state}); use `pbxops wave resume {wave_id}`"
    return f"`wave {command}` is not allowed on wave {wave_id}: it is {state}"


class Engine:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        fleet: Fleet,
        wave_id: int,
        options: RunOptions,
        command: Command,
        *,
        actor: str,
        on_event: ev.EventSink | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        driver: Driver | None = None,
    ) -> None:
        row = wl.get_wave(ledger, wave_id)
        if row is None:
            raise NotFoundError(f"no wave with id {wave_id} in the ledger")
        self.settings, self.ledger, self.fleet, self.row = settings, ledger, fleet, row
        self.id = wave_id
        self.plan = WavePlan.from_dict(row.plan)
        self.options, self.command, self.actor = options, command, actor
        self.on_event = on_event or (lambda _e: None)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self.driver = driver or Driver()
        release = fleet.catalog.release(self.plan.release)
        if release is None:
            raise NotFoundError(
                f"release {self.plan.release!r} of wave {wave_id} is no longer in the catalogue")
        self.release = release
        self.pbx = isinstance(release, PbxRelease)
        self.canary = frozenset(h.hostname for b in self.plan.batches if b.name == "canary"
                                for h in b.hosts)
        self.gates = Gates.of(fleet, self.plan.options.horizon_days,
                              ignore_windows=options.ignore_windows,
                              min_window_left=options.min_window_left)
        self.refs = self.gates.refs
        self.rows: dict[str, wl.HostRow] = {}
        self.states: dict[str, HostState] = {}
        self._steps: dict[str, str] = {}  # running host -> its current step
        self._overridden: frozenset[str] = frozenset(
            o["verdict"] for o in row.options.get("overrides", []))

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> WaveOutcome:
        state = WaveState(self.row.status)
        try:
            command_rule(state, self.command)
        except TransitionRefused:
            raise RefusedError(refusal(self.id, state, self.command, self.row.reason)) from None
        locks = Locks(self.ledger, self.id, [h.hostname for h in self.plan.hosts])
        locks.acquire()
        try:
            self._load()
            self._apply_command()
            wl.set_wave_status(self.ledger, self.id, WaveState.RUNNING)
            self._emit(ev.WaveStarted, wave=self.id, release=self.plan.release,
                       command=str(self.command))
            self._recover_in_flight()
            outcome = self._run_batches()
        except KeyboardInterrupt:
            reason = (
                "interrupted by the operator; the playbook in flight was stopped with pbxops; "
                f"`pbxops wave resume {self.id}` re-checks the hosts it was working on "
                "(waiting first for it, should it still run) and goes on")
            wl.set_wave_status(self.ledger, self.id, WaveState.INTERRUPTED, reason)
            self._emit(ev.Interrupted, wave=self.id, reason=reason)
            raise
        except executor.ExecutionNodeError as exc:
            reason = (f"{exc}; hosts without a result are re-checked by "
                      f"`pbxops wave resume {self.id}`")
            wl.set_wave_status(self.ledger, self.id, WaveState.INTERRUPTED, reason)
            self._emit(ev.WaveFinished, wave=self.id, status=WaveState.INTERRUPTED, reason=reason)
            raise HostError(reason) from exc
        finally:
            locks.release()
        wl.set_wave_status(self.ledger, self.id, outcome.status, outcome.reason)
        self._emit(ev.WaveFinished, wave=self.id, status=outcome.status, reason=outcome.reason)
        return outcome

    def _load(self) -> None:
        self.rows = {r.hostname: r for r in wl.host_rows(self.ledger, self.id)}
        self.states = {h: HostState(r.status) for h, r in self.rows.items()}

    def _apply_command(self) -> None:
        if self.command == Command.OVERRIDE_HALT:
            self._record_override()
        elif self.command == Command.RETRY_FAILED:
            for hostname in self.options.only_hosts:
                self._transition(hostname, Event.RETRY, "queued again by retry-failed",
                                 error="")

    def _record_override(self) -> None:
        standing = verdict(self.states, self.canary, self.options.budget, self._overridden)
        if not self.options.override_reason.strip():
            raise RefusedError("--override-halt needs --reason TEXT (recorded with your name)")
        entry = {"verdict": standing or self.row.reason, "reason": self.options.override_reason,
                 "actor": self.actor, "at": self.clock().isoformat()}
        options = dict(self.row.options)
        options["overrides"] = [*options.get("overrides", []), entry]
        wl.set_wave_options(self.ledger, self.id, options)
        self._overridden = self._overridden | {entry["verdict"]}
        self.ledger.record(ActionRecord(
            "wave.override", "*", None,
            f"wave {self.id}: halt overridden by {self.actor}: {self.options.override_reason} "
            f"(halt was: {entry['verdict']})", self.actor, detail={"wave": self.id}))

    def _halt(self) -> str:
        return verdict(self.states, self.canary, self.options.budget, self._overridden)

    def _todo(self, hostname: str) -> bool:
        if self.options.only_hosts and hostname not in self.options.only_hosts:
            return False
        return self.states[hostname] == HostState.PENDING

    def _run_batches(self) -> WaveOutcome:
        waiting: list[str] = []
        for batch in self.plan.batches:
            if self._halt():
                break
            todo = [h for h in batch.hosts if self._todo(h.hostname)]
            if not todo:
                continue
            self._emit(ev.BatchStarted, batch=batch.name, hosts=tuple(h.hostname for h in todo))
            waiting = self._run_batch(todo)
            if waiting:
                break  # the next batch never starts before this one is through
        return self._outcome(waiting)

    def _outcome(self, waiting: list[str]) -> WaveOutcome:
        halt = self._halt()
        pending = [h for h, s in self.states.items() if s == HostState.PENDING]
        now = self.clock()
        opens = [d.at for d in (self.gates.check(h, now) for h in pending)
                 if d.gate == Gate.WAIT and d.at is not None]
        left = bool(pending) or any(st == HostState.RUNNING for st in self.states.values())
        status = derive(self.states.values(), halted=bool(halt) and left,
                        waiting=bool(waiting or opens))
        next_opening = min(opens) if opens else None
        return WaveOutcome(self.id, status, self._reason(status, halt, pending, next_opening),
                           {h: str(s) for h, s in self.states.items()})

    def _reason(self, status: WaveState, halt: str, pending: list[str],
                next_opening: datetime | None) -> str:
        parts: list[str] = []
        if status == WaveState.HALTED:
            parts.append(f"{halt}; fix the cause and `pbxops wave retry-failed {self.id}`, or "
                         f"`pbxops wave resume {self.id} --override-halt --reason TEXT` to go on "
                         "anyway (recorded)")
        elif status == WaveState.WAITING:
            when = (f" (next opening {next_opening.isoformat(timespec='minutes')})"
                    if next_opening else "")
            parts.append(f"{len(pending)} host(s) wait for their maintenance window "
                         f"({', '.join(pending)}){when}; run `pbxops wave resume {self.id}` then, "
                         f"or let a controller with systemd do it: `pbxops wave schedule "
                         f"{self.id}`")
        elif status == WaveState.PAUSED:
            parts.append(f"{len(pending)} host(s) not started yet ({', '.join(pending)}); "
                         f"`pbxops wave resume {self.id}` goes on")
        elif status == WaveState.INTERRUPTED:
            parts.append(f"hosts still in flight; `pbxops wave resume {self.id}` re-checks them")
        if halt and status != WaveState.HALTED:
            parts.append(f"no host left to run; the wave stopped on: {halt}")
        skipped = [r for h, r in self.rows.items() if self.states[h] == HostState.SKIPPED]
        if skipped and status != WaveState.HALTED:
            parts.append(f"{len(skipped)} host(s) skipped by the pre-checks, not updated: "
                         + "; ".join(f"{r.hostname} ({r.error})" for r in skipped))
        return "; ".join(parts)

    def _run_batch(self, hosts: list[PlannedHost]) -> list[str]:
        """Start the hosts whose gates pass; wait (bounded) for closed windows. Returns the
        hosts still waiting for a window."""
        remaining = list(hosts)
        while remaining:
            if self._halt():
                return []
            ready, remaining, next_at = self._gate(remaining)
            if ready:
                self._execute(ready)
            if not remaining:
                return []
            wait = (next_at - self.clock()).total_seconds() if next_at else 0
            if next_at is None or wait > self.options.max_window_wait.total_seconds():
                return [h.hostname for h in remaining]
            self._emit(ev.WaitingForWindow, hosts=tuple(h.hostname for h in remaining),
                       until=next_at.isoformat())
            self.sleep(max(0.0, wait))
        return []

    def _gate(self, hosts: list[PlannedHost]
              ) -> tuple[list[PlannedHost], list[PlannedHost], datetime | None]:
        now = self.clock()
        ready: list[PlannedHost] = []
        waiting: list[PlannedHost] = []
        next_at: datetime | None = None
        for h in hosts:
            d = self.gates.check(h.hostname, now)
            if d.gate == Gate.START:
                ready.append(h)
            elif d.gate == Gate.EXCLUDE:
                self._transition(h.hostname, Event.NOT_ENTITLED, d.reason, error=d.reason,
                                 outcome="excluded")
            elif d.gate == Gate.DEFER:
                self._transition(h.hostname, Event.NO_WINDOW, d.reason, error=d.reason,
                                 outcome="deferred")
            else:
                waiting.append(h)
                assert d.at is not None
                next_at = d.at if next_at is None else min(next_at, d.at)
                self._note_waiting(h.hostname, d.reason, d.at)
        return ready, waiting, next_at

    def _note_waiting(self, hostname: str, reason: str, at: datetime) -> None:
        """Record (once per opening) that a host waits for its window."""
        row = self.rows[hostname]
        opens = at.isoformat()
        if row.detail.get("waiting_for") == opens:
            return
        self._transition(hostname, Event.WINDOW_CLOSED, reason, outcome="waiting",
                         step="waiting for window", detail={**row.detail, "waiting_for": opens})

    # -- ledger writes ---------------------------------------------------------------------
    def _transition(self, hostname: str, event: Event, summary: str, outcome: str = "ok",
                    **fields: Any) -> None:
        """Move a host along the host table, written to the ledger in one transaction."""
        nxt = host_next(self.states[hostname], event)
        wl.update_host(self.ledger, self.id, hostname, self.actor, summary=summary,
                       outcome=outcome, status=str(nxt), **fields)
        self.states[hostname] = nxt
        row = self.rows[hostname]
        known = {k: v for k, v in fields.items() if hasattr(row, k)}
        self.rows[hostname] = replace(row, status=str(nxt), **known)
        self._emit(ev.HostChanged, host=hostname, state=str(nxt), summary=summary)

    def _emit(self, kind: type[ev.WaveEvent], **data: Any) -> None:
        self.on_event(kind(at=self.clock().isoformat(), **data))

    # -- executing -------------------------------------------------------------------------
    def _execute(self, hosts: list[PlannedHost]) -> None:
        ident = f"wave{self.id}-{executor.new_ident('run')}"
        now = self.clock()
        for h in hosts:
            row = self.rows[h.hostname]
            self._transition(h.hostname, Event.START, f"update to {self.plan.target} started",
                             step="starting", started_at=now, finished_at=None,
                             attempts=row.attempts + 1,
                             detail={"windows_overridden": self.options.ignore_windows,
                                     "run": ident,
                                     **({"started_update": True}
                                        if row.detail.get("started_update") else {})})
        failure: executor.ExecutionNodeError | None = None
        self._steps = {h.hostname: "starting" for h in hosts}
        try:
            result = self._playbook([h.hostname for h in hosts], ident)
        except executor.ExecutionNodeError as exc:
            failure, result = exc, exc.result
        finally:
            reached, self._steps = self._steps, {}
        self._nodes_down(result)
        lost = set(failure.lost_hosts) if failure else set()
        for h in hosts:
            if h.hostname not in lost:  # lost: stays `running`, re-checked on resume
                out = result.hosts.get(h.hostname, executor.HostOutcome(h.hostname))
                self._record(h, out, result, reached.get(h.hostname, ""))
        if failure is not None:
            raise failure

    def _playbook(self, hostnames: list[str], ident: str) -> executor.RunResult:
        inv = render_inventory(self.fleet, self.clock().date())
        playbook, extravars = playbook_and_vars(
            self.release, wave_id=self.id,
            fetch_dir=self.settings.state_dir / "backups" / f"wave-{self.id}",
            rollback=self.options.rollback_on_failure,
            call_poll_seconds=self.options.call_poll_seconds)
        return self.driver.run_playbook(self.settings, playbook, inv, hostnames,
                                        extravars=extravars, ident=ident,
                                        on_event=self._forward, distribute=True)

    def _nodes_down(self, result: executor.RunResult) -> None:
        for node, why in result.nodes_down.items():
            self._emit(ev.NodeDown, node=node, reason=why)

    def _forward(self, event: dict[str, Any]) -> None:
        host = event.get("host")
        kind = event.get("event")
        if kind == "runner_on_start" and host in self._steps:
            self._track_step(str(host), event)
        if kind in ("runner_on_failed", "runner_on_unreachable", "playbook_on_task_start"):
            self._emit(ev.TaskSeen, host=str(host or ""), task=str(event.get("task") or ""),
                       ansible=str(kind))

    def _track_step(self, host: str, event: dict[str, Any]) -> None:
        step = step_of(event.get("role"), event.get("task_path"))
        if not advances(self._steps[host], step) or step is None:
            return
        self._steps[host] = step
        wl.set_step(self.ledger, self.id, host, step)
        self._emit(ev.HostStep, host=host, step=step, task=str(event.get("task") or ""))

    def _record(self, h: PlannedHost, out: executor.HostOutcome,
                run: executor.RunResult, step: str) -> None:
        res: HostResult = classify(out, pbx=self.pbx, target=self.plan.target,
                                   address=h.address, probe=self.driver.probe,
                                   known_before=self.rows[h.hostname].version_before,
                                   server_shows_version=self._server_shows_version(h.hostname))
        if res.event == Event.AT_TARGET and self.rows[h.hostname].detail.get("started_update"):
            res = replace(res, event=Event.UPDATED,  # an interrupted run of this wave did it
                          summary=f"updated {res.version_before or '?'} -> {self.plan.target} "
                                  "(installed by an interrupted run of this wave, finished and "
                                  "verified now)")
        ok = res.event in (Event.UPDATED, Event.AT_TARGET)
        detail = {**self.rows[h.hostname].detail, "artifacts": str(run.artifact_dir),
                  "backup": res.backup}
        outcome = "ok" if ok else ("skipped" if res.event == Event.REFUSED else "failed")
        self._transition(h.hostname, res.event, res.summary, outcome=outcome,
                         finished_at=self.clock(), version_before=res.version_before,
                         version_after=res.version_after, detail=detail,
                         error="" if ok else _with_task(res.summary, out.failed_task),
                         step="finished" if ok else step)

    def _server_shows_version(self, hostname: str) -> bool:
        """False for a PBX whose profile proves the running build on the host instead of in
        its SIP Server header (Asterisk, see platforms.py)."""
        ref = self.refs.get(hostname)
        return ref is None or not profile(ref.system.profile_name).running_command

    # -- crash recovery --------------------------------------------------------------------
    def _recover_in_flight(self) -> None:
        stuck = [h for h, s in self.states.items() if s == HostState.RUNNING]
        if not stuck:
            return
        self._wait_for_orphans()
        self._emit(ev.Recheck, hosts=tuple(stuck))
        inv = render_inventory(self.fleet, self.clock().date())
        failure: executor.ExecutionNodeError | None = None
        try:
            result = self.driver.run_playbook(
                self.settings, "pbx_check.yml", inv, stuck,
                ident=f"wave{self.id}-{executor.new_ident('recheck')}", distribute=True)
        except executor.ExecutionNodeError as exc:
            failure, result = exc, exc.result
        self._nodes_down(result)
        lost = set(failure.lost_hosts) if failure else set()
        verifier = Verifier(self.id, self.plan.target, self.pbx,
                            isinstance(self.release, PbxRelease) and self.release.config_changes,
                            self.driver.probe)
        for hostname in stuck:
            if hostname not in lost:  # a failed node's hosts stay `running`
                self._recheck(verifier, hostname,
                              result.hosts.get(hostname, executor.HostOutcome(hostname)))
        if failure is not None:
            raise failure

    def _recheck(self, verifier: Verifier, hostname: str, out: executor.HostOutcome) -> None:
        row = self.rows[hostname]
        ref = self.refs.get(hostname)
        address = str(ref.address) if ref else ""
        rec = verifier.recheck(row.step, row.version_before, out, address, self.clock(),
                               self._server_shows_version(hostname))
        fields = dict(rec.fields)
        backup = fields.pop("detail_backup", "")
        verified = rec.event in (Event.RECHECK_DONE, Event.AT_TARGET)
        detail = {**row.detail, "verified_on_resume": verified}
        if fields.pop("started_update", False):
            detail["started_update"] = True  # this wave's update began on the host
        if backup:
            detail["backup"] = backup
        if row.detail.get("run"):
            detail["artifacts"] = str(self.settings.runs_dir / row.detail["run"])
        extra: dict[str, Any] = {"step": "finished"} if verified else {}
        outcome = {Event.RECHECK_FAILED: "failed", Event.REFUSED: "skipped"}.get(rec.event, "ok")
        self._transition(hostname, rec.event, rec.summary, outcome=outcome, detail=detail,
                         **fields, **extra)

    def _wait_for_orphans(self, timeout: float = 1800.0) -> None:
        """An ansible-playbook of a killed run may still be working on the hosts: let it
        finish (bounded) before the hosts are re-checked."""
        deadline = time.monotonic() + timeout
        prefix = f"wave{self.id}-"
        while pids := self.driver.orphans(self.settings, prefix):
            if time.monotonic() > deadline:
                raise RefusedError(f"ansible-playbook processes {pids} of an earlier run of wave "
                                   f"{self.id} are still running; stop them first")
            self._emit(ev.WaitingForOrphans, pids=tuple(pids))
            self.sleep(2.0)
        self.driver.clear_leftovers(self.settings, prefix)


def _with_task(summary: str, task: str | None) -> str:
    return f"{summary} (task: {task})" if task and task not in summary else summary

