"""Drive a saved WavePlan through the executor: windows, canary, failure budget, rollback,
crash-safe resume. Every host step is written to the ledger before and after it runs.

Host states (ledger.waves): pending -> running -> done | failed | rolled_back | skipped;
deferred when no window opens within the horizon. While a host runs, its row's ``step``
follows the playbook's phases (precheck, drain, backup, update, postcheck, rollback), each
change written to the ledger as it happens, so an interrupted run shows where each host was.
A host whose window is not open (long enough) when its turn comes stays ``pending`` with a
ledger note and the wave ends ``waiting``. A host found ``running`` when a run
starts was in flight when the previous run died: it is re-checked (read-only) first and
marked done if it already is on the target version, so no host is updated twice. An
execution node that fails mid-batch leaves its hosts ``running`` the same way: the wave
stops (``interrupted``, the error names the node) and ``wave resume`` re-checks them.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import executor
from .errors import HostError, NotFoundError, RefusedError
from .fleet import Fleet
from .inventory import render_inventory
from .ledger import Ledger
from .ledger import waves as wl
from .model import OsUpgrade, PbxRelease
from .planner import PlannedHost, WavePlan, window_decision
from .settings import Settings
from .sipprobe import probe

Clock = Callable[[], datetime]
EventSink = Callable[[dict[str, Any]], None]
LOCK_TTL = timedelta(hours=12)
REACHABILITY_TASK = "Wait for the host to answer over SSH"  # roles/pbx_preflight
# Ledger step of a running host, from the task file its current task comes from.
_ROLE_STEPS = {"pbx_preflight": "precheck", "pbx_check": "precheck"}
_FILE_STEPS = {
    "precheck": "precheck",
    "major_precheck": "precheck",
    "drain": "drain",
    "backup": "backup",
    "update": "update",
    "upgrade": "update",
    "verify": "postcheck",
    "rollback": "rollback",
}


def step_of(role: str | None, task_path: str | None) -> str | None:
    """The wave step a task belongs to (None: no change, e.g. a role's main.yml)."""
    if role in _ROLE_STEPS:
        return _ROLE_STEPS[role]
    if not task_path:
        return None
    stem = task_path.rsplit(":", 1)[0].rsplit("/", 1)[-1].removesuffix(".yml")
    return _FILE_STEPS.get(stem)


@dataclass(frozen=True)
class RolloutOptions:
    rollback_on_failure: bool = True
    max_failures: int | None = None  # absolute count that halts the wave
    max_failure_percent: float = 20.0  # of hosts attempted so far
    min_attempted: int = 3  # attempts before the percentage can trip
    ignore_windows: bool = False  # emergency override, recorded in the ledger
    min_window_left: timedelta = timedelta(minutes=15)
    max_window_wait: timedelta = timedelta(0)  # how long to sleep for a window to open
    call_poll_seconds: int = 10
    only_hosts: tuple[str, ...] = ()  # retry-failed: restrict to these


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


def _holder(wave_id: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:wave-{wave_id}"


def _holder_alive(holder: str) -> bool:
    """A lock whose holder was a process on this machine that no longer exists is stale."""
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True  # another machine: trust the lock's TTL
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Rollout:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        fleet: Fleet,
        wave_id: int,
        options: RolloutOptions = RolloutOptions(),
        *,
        on_event: EventSink | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        row = wl.get_wave(ledger, wave_id)
        if row is None:
            raise NotFoundError(f"no wave with id {wave_id} in the ledger")
        self.settings, self.ledger, self.fleet, self.row = settings, ledger, fleet, row
        self.plan = WavePlan.from_dict(row.plan)
        self.options = options
        self.on_event = on_event or (lambda _e: None)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self.actor = os.environ.get("PBXOPS_ACTOR") or getpass.getuser()
        self.holder = _holder(wave_id)
        self._steps: dict[str, str] = {}  # running host -> its current step
        self.release = fleet.catalog.release(self.plan.release)
        if self.release is None:
            raise NotFoundError(
                f"release {self.plan.release!r} of wave {wave_id} is no longer in the catalogue"
            )

    # -- locking -------------------------------------------------------------------------
    def _lock_names(self) -> list[str]:
        return [f"wave:{self.row.id}"] + [f"host:{h.hostname}" for h in self.plan.hosts]

    def _acquire(self) -> list[str]:
        taken: list[str] = []
        for name in self._lock_names():
            holder = self.ledger.acquire_lock(name, self.holder, LOCK_TTL)
            if holder is not None and not _holder_alive(holder):
                self.ledger.release_lock(name, holder)
                holder = self.ledger.acquire_lock(name, self.holder, LOCK_TTL)
            if holder is not None:
                self._release(taken)
                raise RefusedError(
                    f"{name} is locked by another run ({holder}); "
                    "two waves never touch the same host at once"
                )
            taken.append(name)
        return taken

    def _release(self, names: list[str]) -> None:
        for name in names:
            self.ledger.release_lock(name, self.holder)

    # -- running -------------------------------------------------------------------------
    def run(self) -> WaveOutcome:
        locks = self._acquire()
        try:
            wl.set_wave_status(self.ledger, self.row.id, "running")
            self._emit("wave_started", wave=self.row.id, release=self.plan.release)
            self._recover_in_flight()
            outcome = self._run_batches()
        except KeyboardInterrupt:
            reason = (
                "interrupted by the operator; the playbook in flight was stopped with pbxops; "
                f"`pbxops wave resume {self.row.id}` re-checks the hosts it was working on "
                "(waiting first for it, should it still run) and goes on"
            )
            wl.set_wave_status(self.ledger, self.row.id, "interrupted", reason)
            self._emit("interrupted", wave=self.row.id, reason=reason, hosts=[])
            raise
        except executor.ExecutionNodeError as exc:
            reason = (
                f"{exc}; hosts without a result are re-checked by "
                f"`pbxops wave resume {self.row.id}`"
            )
            wl.set_wave_status(self.ledger, self.row.id, "interrupted", reason)
            self._emit("wave_finished", wave=self.row.id, status="interrupted", reason=reason)
            raise HostError(reason) from exc
        finally:
            self._release(locks)
        wl.set_wave_status(self.ledger, self.row.id, outcome.status, outcome.reason)
        self._emit("wave_finished", wave=self.row.id, status=outcome.status, reason=outcome.reason)
        return outcome

    def _rows(self) -> dict[str, wl.HostRow]:
        return {r.hostname: r for r in wl.host_rows(self.ledger, self.row.id)}

    def _emit(self, kind: str, **data: Any) -> None:
        self.on_event({"event": kind, "at": self.clock().isoformat(), **data})

    def _run_batches(self) -> WaveOutcome:
        for batch in self.plan.batches:
            pending = [h for h in batch.hosts if self._todo(h.hostname)]
            if not pending:
                continue
            self._emit("batch_started", batch=batch.name, hosts=[h.hostname for h in pending])
            waiting = self._run_batch(pending)
            verdict = self._budget(canary=batch.name == "canary")
            if verdict:
                return self._outcome("halted", verdict)
            if waiting:
                return self._outcome(
                    "waiting",
                    f"{len(waiting)} host(s) wait for their maintenance "
                    f"window ({', '.join(waiting)}); run `pbxops wave resume` then",
                )
        return self._outcome("completed", "")

    def _todo(self, hostname: str) -> bool:
        row = self._rows()[hostname]
        if self.options.only_hosts and hostname not in self.options.only_hosts:
            return False
        return row.status == wl.PENDING

    def _outcome(self, status: str, reason: str) -> WaveOutcome:
        rows = self._rows()
        skipped = [r for r in rows.values() if r.status == wl.SKIPPED]
        if status == "completed" and (
            skipped or any(r.status in (wl.FAILED, wl.ROLLED_BACK) for r in rows.values())
        ):
            status = "completed_with_failures"  # not every planned host is on the target
        if skipped and status != "halted":
            note = (
                f"{len(skipped)} host(s) skipped by the pre-checks, not updated: "
                + "; ".join(f"{r.hostname} ({r.error})" for r in skipped)
            )
            reason = f"{reason}; {note}" if reason else note
        return WaveOutcome(self.row.id, status, reason, {h: r.status for h, r in rows.items()})

    def _run_batch(self, hosts: list[PlannedHost]) -> list[str]:
        """Run the hosts whose window is open; wait (bounded) for the others. Returns the
        hosts still waiting for a window."""
        remaining = list(hosts)
        while remaining:
            ready, waiting, next_at = self._gate(remaining)
            if ready:
                self._execute(ready)
            remaining = waiting
            if not remaining:
                break
            wait = (next_at - self.clock()).total_seconds() if next_at else 0
            if next_at is None or wait > self.options.max_window_wait.total_seconds():
                for h in remaining:
                    self._note_waiting(h)
                return [h.hostname for h in remaining]
            self._emit(
                "waiting_for_window",
                hosts=[h.hostname for h in remaining],
                until=next_at.isoformat(),
            )
            self.sleep(max(0.0, wait))
        return []

    def _gate(
        self, hosts: list[PlannedHost]
    ) -> tuple[list[PlannedHost], list[PlannedHost], datetime | None]:
        if self.options.ignore_windows:
            return hosts, [], None
        now = self.clock()
        ready: list[PlannedHost] = []
        waiting: list[PlannedHost] = []
        next_at: datetime | None = None
        for h in hosts:
            ref = self.fleet.host(h.hostname)
            d = window_decision(
                ref.system.maintenance_window,
                ref.customer.tz,
                now,
                self.options.min_window_left,
                self.plan.options.horizon_days,
            )
            if d.action == "start":
                ready.append(h)
            elif d.action == "wait" and d.at is not None:
                waiting.append(h)
                next_at = d.at if next_at is None else min(next_at, d.at)
            else:
                self._mark(
                    h.hostname,
                    wl.DEFERRED,
                    "no maintenance window opening within the horizon",
                    outcome="deferred",
                )
        return ready, waiting, next_at

    def _note_waiting(self, h: PlannedHost) -> None:
        """Record (once per opening) that a host was not started because its window is
        closed or too short, and when it opens next."""
        ref = self.fleet.host(h.hostname)
        d = window_decision(
            ref.system.maintenance_window,
            ref.customer.tz,
            self.clock(),
            self.options.min_window_left,
            self.plan.options.horizon_days,
        )
        if d.at is None:
            return
        opens = d.at.astimezone(ref.customer.tz).isoformat(timespec="minutes")
        row = self._rows()[h.hostname]
        if row.detail.get("waiting_for") == opens:
            return
        self._mark(
            h.hostname,
            wl.PENDING,
            f"not started: its maintenance window is closed or has less than "
            f"{int(self.options.min_window_left.total_seconds() // 60)} minutes left; "
            f"waits for the opening at {opens}",
            outcome="waiting",
            step="waiting for window",
            detail={**row.detail, "waiting_for": opens},
        )

    def _mark(
        self, hostname: str, status: str, summary: str, outcome: str = "ok", **fields: Any
    ) -> None:
        wl.update_host(
            self.ledger,
            self.row.id,
            hostname,
            self.actor,
            summary=summary,
            outcome=outcome,
            status=status,
            **fields,
        )
        self._emit("host_state", host=hostname, state=status, summary=summary)

    def _execute(self, hosts: list[PlannedHost]) -> None:
        now = self.clock()
        for h in hosts:
            row = self._rows()[h.hostname]
            self._mark(
                h.hostname,
                wl.RUNNING,
                f"update to {self.plan.target} started",
                step="starting",
                started_at=now,
                attempts=row.attempts + 1,
                detail={"windows_overridden": self.options.ignore_windows},
            )
        failure: executor.ExecutionNodeError | None = None
        self._steps = {h.hostname: "starting" for h in hosts}
        try:
            result = self._playbook([h.hostname for h in hosts])
        except executor.ExecutionNodeError as exc:
            failure, result = exc, exc.result
        finally:
            self._steps = {}
        self._nodes_down(result)
        lost = set(failure.lost_hosts) if failure else set()
        for h in hosts:
            if h.hostname in lost:
                continue  # stays `running`: in flight on a failed node, re-checked on resume
            self._record_result(
                h, result.hosts.get(h.hostname, executor.HostOutcome(h.hostname)), result
            )
        if failure is not None:
            raise failure

    def _nodes_down(self, result: executor.RunResult) -> None:
        """Say which execution nodes were left out of a run (their hosts went to the others)."""
        for node, why in result.nodes_down.items():
            self._emit("node_down", node=node, reason=why, hosts=[])

    def _playbook(self, hostnames: list[str]) -> executor.RunResult:
        inv = render_inventory(self.fleet, self.clock().date())
        playbook, extravars = self._playbook_and_vars()
        return executor.run_playbook(
            self.settings,
            playbook,
            inv,
            hostnames,
            extravars=extravars,
            ident=f"wave{self.row.id}-{executor.new_ident('run')}",
            on_event=self._forward,
            distribute=True,
        )

    def _playbook_and_vars(self) -> tuple[str, dict[str, Any]]:
        fetch = str(self.settings.state_dir / "backups" / f"wave-{self.row.id}")
        release = self.release
        if isinstance(release, PbxRelease):
            return "pbx_update.yml", {
                "pbx_update_packages": release.packages,
                "pbx_update_release_version": release.version,
                "pbx_update_restart": release.restart,
                "pbx_update_config_changes": release.config_changes,
                "pbx_update_rollback": self.options.rollback_on_failure,
                "pbx_update_call_poll_seconds": self.options.call_poll_seconds,
                "pbx_update_fetch_dir": fetch,
            }
        assert isinstance(release, OsUpgrade)
        return "os_upgrade.yml", {
            "os_upgrade_suite": release.suite,
            "os_upgrade_packages": release.packages,
            "os_upgrade_target": release.to_os,
            "os_upgrade_major": release.major,
            "os_upgrade_reboot": release.reboot,
            "os_upgrade_version_file": release.version_file,
            "os_upgrade_rollback": self.options.rollback_on_failure,
            "os_upgrade_call_poll_seconds": self.options.call_poll_seconds,
            "os_upgrade_fetch_dir": fetch,
        }

    def _forward(self, event: dict[str, Any]) -> None:
        host = event.get("host")
        if event.get("event") == "runner_on_start" and host in self._steps:
            self._track_step(str(host), event)
        if event.get("event") in (
            "runner_on_failed",
            "runner_on_unreachable",
            "playbook_on_task_start",
        ):
            self._emit(
                "task", host=event.get("host"), task=event.get("task"), ansible=event.get("event")
            )

    def _track_step(self, host: str, event: dict[str, Any]) -> None:
        """Write the host's new step to the ledger when its tasks enter another phase."""
        step = step_of(event.get("role"), event.get("task_path"))
        current = self._steps[host]
        if step is None or step == current or (current == "rollback" and step == "postcheck"):
            return
        self._steps[host] = step
        wl.set_step(self.ledger, self.row.id, host, step)
        self._emit("host_step", host=host, step=step, task=event.get("task"))

    def _record_result(
        self, h: PlannedHost, out: executor.HostOutcome, run: executor.RunResult
    ) -> None:
        facts = out.facts
        fields: dict[str, Any] = {
            "finished_at": self.clock(),
            "version_before": str(facts.get("version_before", "")),
            "version_after": str(facts.get("version_after", "")),
            "detail": {
                "artifacts": str(run.artifact_dir),
                "backup": facts.get("backup", ""),
                "windows_overridden": self.options.ignore_windows,
            },
        }
        status, summary, outcome = self._classify(h, out)
        fields["error"] = "" if status == wl.DONE else summary
        fields["step"] = "finished" if status == wl.DONE else (out.failed_task or "")
        self._mark(h.hostname, status, summary, outcome=outcome, **fields)

    def _classify(self, h: PlannedHost, out: executor.HostOutcome) -> tuple[str, str, str]:
        if out.unreachable or out.failed_task == REACHABILITY_TASK:
            return wl.FAILED, f"unreachable: {out.error}", "failed"
        if out.failed and (out.error or "").startswith("PRECHECK"):
            return wl.SKIPPED, f"skipped, not touched: {out.error}", "skipped"
        if out.failed and out.facts.get("rolled_back"):
            return wl.ROLLED_BACK, f"update failed and was rolled back: {out.error}", "failed"
        if out.failed or not out.ok:
            return wl.FAILED, f"update failed: {out.error or 'no result from the host'}", "failed"
        return self._confirm_over_sip(h, out)

    def _confirm_over_sip(self, h: PlannedHost, out: executor.HostOutcome) -> tuple[str, str, str]:
        """The controller's own real SIP probe confirms what the host reported."""
        if self.plan.kind != "pbx":
            return wl.DONE, f"upgraded to {out.facts.get('version_after', self.plan.target)}", "ok"
        answer = probe(h.address, timeout=3.0)
        if answer.status != 200 or answer.version != self.plan.target:
            return (
                wl.FAILED,
                (
                    f"host reported success but SIP says status {answer.status}, "
                    f"version {answer.version}"
                ),
                "failed",
            )
        return (
            wl.DONE,
            f"updated {out.facts.get('version_before', '?')} -> {answer.version} (SIP confirmed)",
            "ok",
        )

    # -- failure budget ------------------------------------------------------------------
    def _budget(self, canary: bool) -> str:
        rows = self._rows().values()
        failures = sum(r.status in (wl.FAILED, wl.ROLLED_BACK) for r in rows)
        attempted = sum(r.status in (wl.DONE, wl.FAILED, wl.ROLLED_BACK) for r in rows)
        if canary and failures:
            return f"the canary failed ({failures} host(s)); no further host was started"
        if canary:
            canary_hosts = {h.hostname for b in self.plan.batches if b.name == "canary"
                            for h in b.hosts}
            tried = [r for r in rows if r.hostname in canary_hosts]
            if any(r.status == wl.SKIPPED for r in tried) and not any(
                r.status == wl.DONE for r in tried
            ):
                return (
                    "the canary was skipped by its pre-checks, so the release is unproven; "
                    "no further host was started (fix the canary, or `pbxops wave resume` "
                    "to go on without it)"
                )
        o = self.options
        if o.max_failures is not None and failures > o.max_failures:
            return f"{failures} failures exceed the budget of {o.max_failures}"
        if attempted >= o.min_attempted and failures * 100 > o.max_failure_percent * attempted:
            return (
                f"{failures} of {attempted} attempted hosts failed "
                f"(> {o.max_failure_percent:g}%); no further host was started"
            )
        return ""

    # -- crash recovery ------------------------------------------------------------------
    def _recover_in_flight(self) -> None:
        stuck = [r for r in self._rows().values() if r.status == wl.RUNNING]
        if not stuck:
            return
        self._wait_for_orphans()
        self._emit("recheck", hosts=[r.hostname for r in stuck])
        inv = render_inventory(self.fleet, self.clock().date())
        failure: executor.ExecutionNodeError | None = None
        try:
            result = executor.run_playbook(
                self.settings,
                "pbx_check.yml",
                inv,
                [r.hostname for r in stuck],
                ident=f"wave{self.row.id}-{executor.new_ident('recheck')}",
                distribute=True,
            )
        except executor.ExecutionNodeError as exc:
            failure, result = exc, exc.result
        self._nodes_down(result)
        lost = set(failure.lost_hosts) if failure else set()
        for r in stuck:
            if r.hostname not in lost:  # a failed node's hosts stay `running`
                self._recheck(r, result.hosts.get(r.hostname, executor.HostOutcome(r.hostname)))
        if failure is not None:
            raise failure

    def _wait_for_orphans(self, timeout: float = 1800.0) -> None:
        """An ansible-playbook of a killed run may still be working on the hosts: let it
        finish its step (bounded) before the hosts are re-checked."""
        deadline = time.monotonic() + timeout
        prefix = f"wave{self.row.id}-"
        while pids := [
            *map(str, executor.orphaned_runs(self.settings, prefix)),
            *executor.orphaned_node_runs(self.settings, prefix),
        ]:
            if time.monotonic() > deadline:
                raise RefusedError(f"ansible-playbook processes {pids} of an earlier run of wave "
                                   f"{self.row.id} are still running; stop them first")
            self._emit("waiting_for_orphans", hosts=[], pids=pids)
            self.sleep(2.0)
        executor.clear_node_leftovers(self.settings, prefix)

    def _recheck(self, row: wl.HostRow, out: executor.HostOutcome) -> None:
        version = str(out.facts.get("version", ""))
        healthy = (
            out.facts.get("service") == "active" and int(out.facts.get("sip_status", 0) or 0) == 200
        )
        where = row.step or "?"
        if out.unreachable:
            self._mark(
                row.hostname,
                wl.FAILED,
                f"in flight (step {where}) when the last run stopped and now unreachable: "
                f"{out.error}",
                outcome="failed",
                error=out.error or "unreachable",
            )
        elif healthy and version == self.plan.target:
            self._mark(
                row.hostname,
                wl.DONE,
                f"completed before the last run stopped (in step {where}); "
                f"verified on resume at {version}",
                version_after=version,
                finished_at=self.clock(),
                step="finished",
            )
        elif healthy and (not row.version_before or version == row.version_before):
            self._mark(
                row.hostname,
                wl.PENDING,
                f"in flight (step {where}) when the last run stopped; still on {version}, "
                "healthy: will be updated again",
                version_before=version,
            )
        else:
            self._mark(
                row.hostname,
                wl.FAILED,
                f"in flight (step {where}) when the last run stopped; found on "
                f"{version or '?'} and not healthy: needs a technician or `wave retry-failed`",
                outcome="failed",
                error=f"unhealthy after interrupted update (version {version or '?'})",
            )
