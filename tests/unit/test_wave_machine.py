"""Model-based test of the wave engine: random sequences of operator commands and faults
driven through the REAL engine, ledger (SQLite), book loading and state machine, with a
simulated driver in place of ansible-runner and the SIP probe (the lab tests prove the real
driver). After every step the promises are checked:

- nothing beyond the canary starts after a canary failure unless a halt override is recorded;
- `completed*` only when every host is final;
- no host is started outside its entitlement (customer's date) or its window;
- no package action on a host already at target; a host recorded done is never run again;
- a host recorded done/already_at_target really runs the target (installed AND answering);
- every ledger state is a known host state; the report, the outcome and the ledger agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from orchestrator import app, executor
from orchestrator.errors import PbxopsError, RefusedError
from orchestrator.ledger import Ledger
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings, load_settings
from orchestrator.sipprobe import SipProbeResult
from orchestrator.waves import Driver, HostState, RunOptions, WaveState
from orchestrator.waves.states import FINAL, SUCCESS, WAVE_COMMANDS, Command

REPO = Path(__file__).resolve().parents[2]
TARGET, OLD = "18.1.0", "18.0.0"
# canary: internal; alpha, bravo: always open; night: a 2-hour window at night (Berlin).
HOSTS = ("canary", "alpha", "bravo", "night")
WINDOWS = {"night": ["mon-sun 02:00-04:00"]}
START = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)  # 01:30 Berlin: night's window is closed


class Killed(BaseException):
    """kill -9 of pbxops: no except clause of the engine sees it (only `finally`)."""


@dataclass
class SimHost:
    installed: str = OLD
    running: str = OLD  # what the PBX answers over SIP
    healthy: bool = True
    reachable: bool = True
    broken_release: bool = False  # the update fails on this host and is rolled back
    installs: int = 0
    marker: dict[str, Any] = field(default_factory=dict)


class SimDriver(Driver):
    """The hosts, as the engine's driver sees them. Records every violation it witnesses."""

    def __init__(self, machine: WaveMachine) -> None:
        self.m = machine
        self.fault: str | None = None  # ctrl_c | kill | kill_half | kill_done: next run
        self.violations: list[str] = []

    def probe(self, address: str) -> SipProbeResult:
        h = self.m.sim[self.m.by_address[address]]
        if not (h.reachable and h.healthy):
            return SipProbeResult(address, 5060, None, error="timeout")
        return SipProbeResult(address, 5060, 200, version=h.running)

    def orphans(self, settings: Settings, prefix: str) -> list[str]:
        return []

    def clear_leftovers(self, settings: Settings, prefix: str) -> None:
        return None

    def run_playbook(self, settings: Settings, playbook: str, inventory: dict[str, Any],
                     hosts: list[str], **kw: Any) -> executor.RunResult:
        if playbook == "pbx_check.yml":
            outs = {h: self._check(h) for h in hosts}
        else:
            outs = self._update(hosts, kw.get("extravars", {}))
        return executor.RunResult("sim", "successful", 0, outs, Path("/nonexistent"))

    def _check(self, hostname: str) -> executor.HostOutcome:
        h = self.m.sim[hostname]
        if not h.reachable:
            return executor.HostOutcome(hostname, unreachable=True, error="no route")
        return executor.HostOutcome(hostname, ok=4, facts={
            "version": h.installed, "service": "active" if h.healthy else "failed",
            "sip_status": 200 if h.healthy else 0, "server_header": f"LabPBX {h.running}",
            "last_update": dict(h.marker)})

    def _update(self, hosts: list[str], extravars: dict[str, Any]) -> dict[str, executor.HostOutcome]:
        fault, self.fault = self.fault, None
        outs: dict[str, executor.HostOutcome] = {}
        for i, name in enumerate(hosts):
            self._witness_start(name)
            if fault and i == len(hosts) - 1:  # the last host is in flight when it happens
                if fault == "kill_half":  # installed, not restarted: still answers as before
                    h = self.m.sim[name]
                    h.marker = {"wave": int(extravars.get("pbxops_wave_id", 0)),
                                "target": TARGET, "version_before": h.installed,
                                "backup": f"/var/backups/pbxops/{name}.tgz"}
                    if h.installed != TARGET:  # dpkg installs a version once
                        h.installs += 1
                    h.installed = TARGET
                    raise Killed()
                if fault == "kill_done":  # the orphaned playbook finished the host
                    self._one(name, int(extravars.get("pbxops_wave_id", 0)))
                    raise Killed()
                raise KeyboardInterrupt() if fault == "ctrl_c" else Killed()
            outs[name] = self._one(name, int(extravars.get("pbxops_wave_id", 0)))
        return outs

    def _witness_start(self, name: str) -> None:
        m = self.m
        rows = m.rows()
        if rows[name].status in SUCCESS:
            self.violations.append(f"{name} started again although {rows[name].status}")
        canary_failed = rows["canary-pbx"].status in ("failed", "rolled_back")
        if name != "canary-pbx" and canary_failed and not m.overridden():
            self.violations.append(f"{name} started after the canary failed, no override")
        if m.contract_ended.get(name):
            self.violations.append(f"{name} started after its contract ended")
        if name == "night-pbx" and not m.ignore_windows and not m.night_window_open():
            self.violations.append(f"{name} started outside its window")

    def _one(self, name: str, wave: int) -> executor.HostOutcome:
        h = self.m.sim[name]
        if not h.reachable:
            return executor.HostOutcome(name, unreachable=True, error="no route")
        if not h.healthy:
            return executor.HostOutcome(name, ok=2, failed=True, error="PBX not healthy",
                                        facts={"refused": "PBX not healthy before the update"})
        before = h.installed
        if h.installed == TARGET and h.running == TARGET:
            return executor.HostOutcome(name, ok=5, facts={
                "version_before": before, "version_after": TARGET, "already_at_target": True})
        if h.installed == TARGET:
            pass  # installed by an earlier, interrupted run: only the restart is left
        else:
            h.installs += 1
        h.marker = {"wave": wave, "target": TARGET, "version_before": before,
                    "backup": f"/var/backups/pbxops/{name}.tgz"}
        if h.broken_release:
            h.installed = h.running = before
            h.marker = {**h.marker, "finished_at": self.m.now.isoformat(),
                        "result": "rolled_back"}  # as roles/pbx_update/tasks/rollback.yml
            return executor.HostOutcome(name, ok=5, failed=True, error="SIP not answering",
                                        facts={"version_before": before, "rolled_back": True})
        h.installed = h.running = TARGET
        h.marker = {**h.marker, "finished_at": self.m.now.isoformat(), "result": "updated"}
        return executor.HostOutcome(name, ok=9, changed=2, facts={
            "version_before": before, "version_after": TARGET, "package_changed": True,
            "backup": h.marker["backup"]})


def _book(root: Path) -> None:
    (root / "customers").mkdir(parents=True, exist_ok=True)
    for i, cid in enumerate(HOSTS):
        _customer(root, i, cid, "2030-12-31")
    (root / "releases.yml").write_text((REPO / "inventory/demo/releases.yml").read_text())


def _customer(root: Path, i: int, cid: str, end: str) -> None:
    system = {"hostname": f"{cid}-pbx", "site": "main", "address": f"127.0.{i}.50",
              "platform": "asterisk", "deployment": "hardware", "os_release": "12",
              # the simulated PBX answers like LabPBX: its SIP Server header carries the
              # version (the asterisk profile checks the running build on the host instead)
              "pbx_profile": "labpbx",
              "licences": [{"kind": "user", "count": 5}], "extensions": 5,
              "internal": cid == "canary",
              "maintenance_window": {"slots": WINDOWS.get(cid, ["mon-sun 00:00-24:00"])}}
    customer = {"id": cid, "name": cid, "timezone": "Europe/Berlin",
                "contacts": [{"email": f"it@{cid}.example"}],
                "sites": [{"id": "main", "subnet": f"127.0.{i}.0/24"}], "systems": [system],
                "contracts": [{"id": f"{cid}-c", "kind": "software_maintenance",
                               "start": "2020-01-01", "end": end}]}
    (root / "customers" / f"{cid}.yml").write_text(yaml.safe_dump(customer))


class WaveMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(TMP.mkdtemp())
        _book(self.tmp / "book")
        self.s = load_settings(env={}, args={
            "book": str(self.tmp / "book"), "state_dir": str(self.tmp / "state"),
            "ledger_url": f"sqlite:///{self.tmp}/l.sqlite", "smtp_port": 1})
        self.sim = {f"{h}-pbx": SimHost() for h in HOSTS}
        self.by_address = {f"127.0.{i}.50": f"{h}-pbx" for i, h in enumerate(HOSTS)}
        self.contract_ended: dict[str, bool] = {}
        self.now = START
        self.ignore_windows = False
        self.driver = SimDriver(self)
        self.wave = 0
        self._ledger: Ledger | None = None

    @initialize()
    def plan(self) -> None:
        wave_id, _ = app.plan_wave(self.s, "pbx-18.1", at=self.now,
                                   options=PlanOptions(canary_size=1, batch_size=2))
        assert wave_id is not None
        self.wave = wave_id

    # -- helpers -----------------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        """One connection for the checks (the commands open their own, as the CLI does)."""
        if self._ledger is None:
            self._ledger = Ledger(self.s.ledger, upgrade=False)
        return self._ledger

    def rows(self) -> dict[str, wl.HostRow]:
        return {r.hostname: r for r in wl.host_rows(self.ledger, self.wave)}

    def status(self) -> str:
        w = wl.get_wave(self.ledger, self.wave)
        assert w is not None
        return w.status

    def overridden(self) -> bool:
        w = wl.get_wave(self.ledger, self.wave)
        return bool(w and w.options.get("overrides"))

    def night_window_open(self) -> bool:
        local = self.now.astimezone(ZoneInfo("Europe/Berlin"))
        minutes = local.hour * 60 + local.minute
        return 120 <= minutes <= 240 - 15

    def _drive(self, command: Command, fn: Any, *args: Any, **kw: Any) -> None:
        before = WaveState(self.status())
        try:
            outcome = fn(self.s, self.wave, *args, clock=lambda: self.now, driver=self.driver,
                         **kw)
            assert outcome.hosts == {h: r.status for h, r in self.rows().items()}
            assert outcome.status == self.status()
        except (KeyboardInterrupt, Killed):
            pass
        except RefusedError as exc:
            self._refusal_is_lawful(before, command, str(exc))

    def _refusal_is_lawful(self, state: WaveState, command: Command, message: str) -> None:
        """A refusal only where the table has no transition, or retry-failed with nothing
        to retry; and the wave's state is untouched by it."""
        allowed = (state, command) in WAVE_COMMANDS
        nothing = command == Command.RETRY_FAILED and "no failed" in message
        assert not allowed or nothing, (state, command, message)
        assert WaveState(self.status()) == state

    def _opts(self, **kw: Any) -> RunOptions:
        return RunOptions(call_poll_seconds=1, ignore_windows=self.ignore_windows, **kw)

    # -- operator commands --------------------------------------------------------------------
    @rule(ignore=st.booleans())
    def run(self, ignore: bool) -> None:
        self.ignore_windows = ignore
        self._drive(Command.RUN, app.run_wave, self._opts())

    @rule()
    def resume(self) -> None:
        self._drive(Command.RESUME, app.run_wave, self._opts(), resume=True)

    @rule()
    def resume_override(self) -> None:
        self._drive(Command.OVERRIDE_HALT, app.run_wave,
                    self._opts(override_reason="accepted risk"), resume=True)

    @rule()
    def retry_failed(self) -> None:
        self._drive(Command.RETRY_FAILED, app.retry_failed, self._opts())

    @rule()
    def abort(self) -> None:
        try:
            app.abort_wave(self.s, self.wave, "operator gave up")
        except PbxopsError:
            assert WaveState(self.status()) in (WaveState.COMPLETED, WaveState.ABORTED,
                                                WaveState.COMPLETED_WITH_FAILURES)

    # -- faults and the world -------------------------------------------------------------------
    @rule(fault=st.sampled_from(["ctrl_c", "kill", "kill_half", "kill_done"]))
    def arm_fault(self, fault: str) -> None:
        self.driver.fault = fault

    @rule()
    def canary_release_broken(self) -> None:
        self.sim["canary-pbx"].broken_release = True

    @rule(host=st.sampled_from(HOSTS), broken=st.booleans())
    def release_broken_on(self, host: str, broken: bool) -> None:
        self.sim[f"{host}-pbx"].broken_release = broken

    @rule(host=st.sampled_from(HOSTS), up=st.booleans())
    def reachable(self, host: str, up: bool) -> None:
        self.sim[f"{host}-pbx"].reachable = up

    @rule(host=st.sampled_from(HOSTS), ok=st.booleans())
    def healthy(self, host: str, ok: bool) -> None:
        self.sim[f"{host}-pbx"].healthy = ok

    @rule(host=st.sampled_from(HOSTS))
    def already_at_target(self, host: str) -> None:
        h = self.sim[f"{host}-pbx"]
        h.installed = h.running = TARGET

    @rule(host=st.sampled_from(HOSTS[1:]))
    def contract_ends(self, host: str) -> None:
        i = HOSTS.index(host)
        yesterday = (self.now - timedelta(days=1)).date().isoformat()
        _customer(self.tmp / "book", i, host, yesterday)
        self.contract_ended[f"{host}-pbx"] = True

    @rule(hours=st.integers(min_value=1, max_value=5))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def no_violation_witnessed(self) -> None:
        if self.wave:
            assert not self.driver.violations, self.driver.violations

    @invariant()
    def states_are_known_and_final_when_completed(self) -> None:
        if not self.wave:
            return
        rows = self.rows()
        for r in rows.values():
            HostState(r.status)  # each host exactly one known state
        if self.status() in (WaveState.COMPLETED, WaveState.COMPLETED_WITH_FAILURES):
            assert all(r.status in FINAL for r in rows.values()), {
                h: r.status for h, r in rows.items()}

    @invariant()
    def success_is_real(self) -> None:
        if not self.wave:
            return
        for h, r in self.rows().items():
            if r.status in SUCCESS:
                sim = self.sim[h]  # no rule moves a host off the target once it is there
                assert sim.installed == sim.running == TARGET, (h, r.status, sim)
                assert r.version_after == TARGET or r.status == "already_at_target", (h, r)
                if r.status == "done":
                    assert r.version_before, (h, "version_before lost")

    @invariant()
    def no_double_install(self) -> None:
        for h, sim in self.sim.items():
            assert sim.installs <= 1 + self._retries(h), (h, sim.installs)

    def _retries(self, host: str) -> int:
        if not self.wave:
            return 0
        return sum(1 for a in self.ledger.actions(kind_prefix="wave.")
                   if a.host == host and a.summary == "queued again by retry-failed")

    @invariant()
    def report_agrees_with_ledger(self) -> None:
        if not self.wave:
            return
        report = {r["host"]: r["status"] for r in app.wave_report(self.s, self.wave)}
        assert report == {h: r.status for h, r in self.rows().items()}


class _Tmp:
    def __init__(self) -> None:
        self.root: Path | None = None
        self.n = 0

    def mkdtemp(self) -> str:
        assert self.root is not None
        self.n += 1
        path = self.root / f"m{self.n}"
        path.mkdir()
        return str(path)


TMP = _Tmp()

WaveMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("PBXOPS_MACHINE_EXAMPLES", "300")), stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(autouse=True)
def _tmp_root(tmp_path: Path) -> None:
    TMP.root = tmp_path


TestWaveMachine = WaveMachine.TestCase


# -- the findings of issue 13 as ordinary regression tests (each failed on the old engine) --
def _replay(*steps: tuple[str, dict[str, Any]]) -> WaveMachine:
    m = WaveMachine()
    m.plan()
    for name, kw in steps:
        getattr(m, name)(**kw)
        for check in ("no_violation_witnessed", "states_are_known_and_final_when_completed",
                      "success_is_real", "no_double_install", "report_agrees_with_ledger"):
            getattr(m, check)()
    return m


def test_failed_canary_then_resume_starts_nobody_else() -> None:
    m = _replay(("canary_release_broken", {}), ("run", {"ignore": True}), ("resume", {}))
    assert m.status() == "halted"
    assert {h: r.status for h, r in m.rows().items() if h != "canary-pbx"} == {
        "alpha-pbx": "pending", "bravo-pbx": "pending", "night-pbx": "pending"}


def test_retry_failed_on_a_waiting_wave_leaves_it_waiting() -> None:
    m = _replay(("release_broken_on", {"host": "alpha", "broken": True}))
    lenient = RunOptions(call_poll_seconds=1, max_failure_percent=100)
    m._drive(Command.RUN, app.run_wave, lenient)
    assert m.status() == "waiting" and m.rows()["alpha-pbx"].status == "rolled_back"
    m.sim["alpha-pbx"].broken_release = False
    m._drive(Command.RETRY_FAILED, app.retry_failed, lenient)
    assert m.status() == "waiting", m.status()  # was: "completed", night-pbx never updated
    assert m.rows()["alpha-pbx"].status == "done"
    assert m.rows()["night-pbx"].status == "pending"


def test_a_contract_ended_after_planning_excludes_the_host() -> None:
    m = _replay(("contract_ends", {"host": "bravo"}), ("run", {"ignore": True}))
    row = m.rows()["bravo-pbx"]
    assert row.status == "excluded" and "not entitled on" in row.error
    assert m.sim["bravo-pbx"].installs == 0


def test_a_host_already_at_target_is_recorded_as_such() -> None:
    m = _replay(("already_at_target", {"host": "alpha"}), ("run", {"ignore": True}))
    assert m.rows()["alpha-pbx"].status == "already_at_target"
    assert m.sim["alpha-pbx"].installs == 0


def test_installed_but_not_restarted_is_not_verified_on_resume() -> None:
    m = _replay(("arm_fault", {"fault": "kill_half"}), ("run", {"ignore": True}))
    assert m.rows()["canary-pbx"].status == "running"
    m.resume()
    canary = m.rows()["canary-pbx"]
    assert canary.status == "done" and canary.attempts == 2, canary  # restarted, verified
    assert canary.version_before == OLD


def test_a_host_verified_on_resume_keeps_its_record() -> None:
    m = _replay(("arm_fault", {"fault": "kill_done"}), ("run", {"ignore": True}))
    assert m.rows()["canary-pbx"].status == "running"
    m.resume()
    canary = m.rows()["canary-pbx"]
    assert canary.status == "done" and canary.attempts == 1, canary  # verified, not redone
    assert canary.version_before == OLD and canary.detail["backup"].endswith("canary-pbx.tgz")
    assert canary.detail["verified_on_resume"] is True
    assert m.sim["canary-pbx"].installs == 1


def test_a_host_at_target_found_in_flight_is_already_at_target_not_updated() -> None:
    m = _replay(("already_at_target", {"host": "canary"}), ("arm_fault", {"fault": "ctrl_c"}),
                ("resume", {}), ("resume", {}))
    canary = m.rows()["canary-pbx"]
    assert canary.status == "already_at_target" and canary.version_before == TARGET, canary


def test_a_host_rolled_back_by_an_orphaned_run_is_not_installed_again() -> None:
    m = _replay(("release_broken_on", {"host": "canary", "broken": True}),
                ("arm_fault", {"fault": "kill_done"}), ("run", {"ignore": True}), ("resume", {}))
    canary = m.rows()["canary-pbx"]
    assert canary.status == "rolled_back" and m.sim["canary-pbx"].installs == 1, canary
    assert m.status() == "halted"


# -- found by trying the feature on the lab as a new user ------------------------------------
def test_an_unhealthy_host_interrupted_before_any_change_is_skipped_not_failed() -> None:
    m = _replay(("healthy", {"host": "canary", "ok": False}), ("arm_fault", {"fault": "ctrl_c"}),
                ("run", {"ignore": True}), ("resume", {}))
    canary = m.rows()["canary-pbx"]
    assert canary.status == "skipped" and "not touched" in canary.error, canary


def test_a_halt_with_every_host_final_ends_the_wave_completed_with_failures() -> None:
    m = _replay(*[("release_broken_on", {"host": h, "broken": True}) for h in HOSTS],
                ("run", {"ignore": True}), ("resume_override", {}))
    assert m.status() == "halted"  # the budget: more failed hosts, night-pbx still left
    m.ignore_windows = True
    m.resume_override()
    assert all(r.status in FINAL for r in m.rows().values())
    assert m.status() == "completed_with_failures", m.status()
