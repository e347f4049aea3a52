"""Update waves against real lab hosts under bad input and faults: a full disk, an
unreachable apt repository, a hung SIP service, a host that drops off the network mid-update,
a maintenance window that closes before a host's turn, and the orchestrator killed -9 at
several points. Each checks the message, every host's final state (dpkg and SIP on the
host, not just the ledger) and that the ledger lost nothing.

One lab for the module; hosts are put back on the baseline release between tests."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator import app, lab
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.waves import RunOptions
from orchestrator.waves import events as ev

from .books import book_lab, one_pbx_customer
from .conftest import eventually
from .waves import address as _address
from .waves import cli as _cli
from .waves import dpkg as _dpkg
from .waves import healthy_on as _healthy_on
from .waves import installs as _installs
from .waves import kill_when as _kill_when
from .waves import reset
from .waves import rows as _rows
from .waves import sip as _sip
from .waves import start as _start
from .waves import wave_actions as _wave_actions

pytestmark = pytest.mark.lab
LATE_WINDOW = {"slots": ["mon-sun 10:00-12:00"]}  # UTC (the customer's timezone)
BASE, TARGET = "18.0.0", "18.1.0"
FAST = RunOptions(call_poll_seconds=1)


def _customer(cid: str, n: int, **kw: Any) -> dict[str, Any]:
    return one_pbx_customer(cid, 70 + n, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    customers = [
        _customer("canary", 0, kind="hosting", internal=True),
        _customer("alpha", 1), _customer("bravo", 2), _customer("charlie", 3),
        _customer("late", 4, window=LATE_WINDOW, tz="UTC"),
    ]
    with book_lab(tmp_path_factory.mktemp("faults"), customers) as settings:
        yield settings


# -- helpers -------------------------------------------------------------------------------
def _reset(s: Settings, *hosts: str) -> None:
    reset(s, BASE, *hosts)


def _plan(s: Settings, release: str = "pbx-18.1", at: datetime | None = None, **kw: Any) -> int:
    kw.setdefault("batch_size", 2)
    wave_id, _ = app.plan_wave(s, release, at, options=PlanOptions(**kw))
    assert wave_id is not None
    return wave_id


def _final(rows: dict[str, wl.HostRow], hosts: tuple[str, ...]) -> None:
    for host in hosts:
        assert rows[host].status in wl.FINAL, f"{host} is left {rows[host].status}"


# -- 1. disk full --------------------------------------------------------------------------
def test_full_disk_is_refused_by_the_precheck_and_the_others_are_updated(env: Settings) -> None:
    s = env
    wave_id = _plan(s, customers=("alpha", "bravo"), canary_size=0)
    before = _installs(s, "alpha-pbx", TARGET)
    lab.inject_fault(s, "alpha-pbx", "disk-full")
    try:
        code, result, tail = _cli(s, "wave", "run", str(wave_id))
    finally:
        lab.clear_fault(s, "alpha-pbx", "disk-full")
    assert code == 11 and result["status"] == "completed_with_failures", tail
    assert result["hosts"]["alpha-pbx"] == "skipped" and result["hosts"]["bravo-pbx"] == "done"
    assert "alpha-pbx" in result["reason"] and "disk space" in result["reason"]
    row = _rows(s, wave_id)["alpha-pbx"]
    assert "not enough disk space" in row.error and "not touched" in row.error, row.error
    assert row.version_after == ""
    _healthy_on(s, "alpha-pbx", BASE)
    assert _installs(s, "alpha-pbx", TARGET) == before
    _healthy_on(s, "bravo-pbx", TARGET)
    _final(_rows(s, wave_id), ("alpha-pbx", "bravo-pbx"))
    assert [a.kind for a in _wave_actions(s, wave_id, "alpha-pbx")] == ["wave.running", "wave.skipped"]
    _reset(s, "bravo-pbx")


# -- 2. apt repository unreachable ---------------------------------------------------------
def test_unreachable_repository_fails_the_host_cleanly_and_counts_against_the_budget(
    env: Settings,
) -> None:
    s = env
    wave_id = _plan(s, customers=("canary", "alpha", "bravo", "charlie"))
    before = _installs(s, "alpha-pbx", TARGET)
    lab.inject_fault(s, "alpha-pbx", "repo-unreachable")
    try:
        outcome = app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1, max_failures=0))
    finally:
        lab.clear_fault(s, "alpha-pbx", "repo-unreachable")
    rows = _rows(s, wave_id)
    assert outcome.status == "halted", (outcome, rows["alpha-pbx"])
    assert "1 failures exceed the budget of 0" in outcome.reason
    assert outcome.hosts == {"canary-pbx": "done", "alpha-pbx": "rolled_back",
                             "bravo-pbx": "done", "charlie-pbx": "pending"}
    alpha = rows["alpha-pbx"]
    assert "Install the target PBX packages" in alpha.error, alpha.error
    assert "apt" in alpha.error.lower() and f"rolled back to {BASE}" in alpha.error, alpha.error
    assert alpha.version_before == BASE
    _healthy_on(s, "alpha-pbx", BASE)  # on its previous version and answering SIP
    assert _installs(s, "alpha-pbx", TARGET) == before
    _healthy_on(s, "charlie-pbx", BASE)  # never started: the budget stopped the wave
    assert rows["charlie-pbx"].attempts == 0
    kinds = [a.kind for a in _wave_actions(s, wave_id, "alpha-pbx")]
    assert kinds == ["wave.running", "wave.rolled_back"]
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}
    assert report["alpha-pbx"]["error"] == alpha.error
    _reset(s, "canary-pbx", "bravo-pbx")


# -- 3. SIP service hung -------------------------------------------------------------------
def test_hung_sip_service_is_skipped_as_broken_not_updated(env: Settings) -> None:
    s = env
    wave_id = _plan(s, customers=("alpha", "bravo"), canary_size=0)
    before = _installs(s, "bravo-pbx", TARGET)
    lab.inject_fault(s, "bravo-pbx", "sip-hang")
    try:
        outcome = app.run_wave(s, wave_id, FAST)
        assert _dpkg(s, "bravo-pbx") == BASE
    finally:
        lab.clear_fault(s, "bravo-pbx", "sip-hang")
    rows = _rows(s, wave_id)
    assert outcome.status == "completed_with_failures", (outcome, rows["bravo-pbx"])
    assert outcome.hosts == {"alpha-pbx": "done", "bravo-pbx": "skipped"}
    bravo = rows["bravo-pbx"]
    assert "not healthy before the update" in bravo.error and "SIP status 0" in bravo.error
    assert "bravo-pbx" in outcome.reason and "skipped" in outcome.reason
    assert bravo.version_after == "" and _installs(s, "bravo-pbx", TARGET) == before
    _healthy_on(s, "bravo-pbx", BASE)  # SIGCONT: the same process answers again
    _healthy_on(s, "alpha-pbx", TARGET)
    _reset(s, "alpha-pbx")


# -- 4. host down during its update --------------------------------------------------------
def test_host_dropping_off_mid_update_fails_alone_and_retry_brings_it_to_target(
    env: Settings,
) -> None:
    s = env
    wave_id = _plan(s, customers=("alpha", "charlie"), canary_size=0)
    before = {h: _installs(s, h, TARGET) for h in ("alpha-pbx", "charlie-pbx")}
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(out=app.run_wave(s, wave_id, FAST)))
    with lab.hold_call(_address(s, "alpha-pbx")):  # alpha sits in the drain until BYE
        runner.start()
        assert eventually(lambda: _rows(s, wave_id)["alpha-pbx"].step == "drain", 120, 0.1)
        lab.inject_fault(s, "alpha-pbx", "network-down")
        try:
            runner.join(timeout=240)
            assert not runner.is_alive(), "the batch hangs on the vanished host"
        finally:
            lab.clear_fault(s, "alpha-pbx", "network-down")
        assert eventually(lambda: _sip(s, "alpha-pbx")[0] == 200, 30)
    outcome = result["out"]
    rows = _rows(s, wave_id)
    assert outcome.hosts == {"alpha-pbx": "failed", "charlie-pbx": "done"}, rows["alpha-pbx"]
    assert outcome.status == "completed_with_failures"
    alpha = rows["alpha-pbx"]
    assert alpha.error.startswith("unreachable:"), alpha.error
    assert alpha.step == "drain", alpha.step  # the step it was in; the task is in the error
    _healthy_on(s, "alpha-pbx", BASE)
    _healthy_on(s, "charlie-pbx", TARGET)

    code, final, tail = _cli(s, "wave", "retry-failed", str(wave_id))
    assert code == 0 and final["status"] == "completed", tail
    rows = _rows(s, wave_id)
    assert rows["alpha-pbx"].status == "done" and rows["alpha-pbx"].attempts == 2
    assert rows["charlie-pbx"].attempts == 1, "retry-failed touched a host that was done"
    _healthy_on(s, "alpha-pbx", TARGET)
    for host in ("alpha-pbx", "charlie-pbx"):
        assert _installs(s, host, TARGET) == before[host] + 1, f"{host} installed it twice"
    kinds = [a.kind for a in _wave_actions(s, wave_id, "alpha-pbx")]
    assert kinds == ["wave.running", "wave.failed", "wave.pending", "wave.running", "wave.done"]
    _reset(s, "alpha-pbx", "charlie-pbx")


# -- 5. a window that closes before a host's turn ------------------------------------------
class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_host_whose_window_closed_before_its_turn_waits_and_resume_runs_it(
    env: Settings,
) -> None:
    s = env
    t0 = datetime.now(UTC).replace(hour=10, minute=30, second=0, microsecond=0)
    wave_id = _plan(s, at=t0, customers=("canary", "late"))
    clock = _Clock(t0)

    def on_event(event: ev.WaveEvent) -> None:  # the canary took until 11:50
        if isinstance(event, ev.HostChanged) and event.state == "done":
            clock.at = t0.replace(hour=11, minute=50)

    outcome = app.run_wave(s, wave_id, FAST, on_event, clock=clock)
    assert outcome.status == "waiting", outcome
    assert outcome.hosts == {"canary-pbx": "done", "late-pbx": "pending"}
    assert "late-pbx" in outcome.reason and "wave resume" in outcome.reason
    late = _rows(s, wave_id)["late-pbx"]
    assert late.attempts == 0 and late.started_at is None, "started although its window closed"
    assert late.step == "waiting for window"
    _healthy_on(s, "late-pbx", BASE)
    notes = _wave_actions(s, wave_id, "late-pbx")
    assert [(a.kind, a.outcome) for a in notes] == [("wave.pending", "waiting")]
    tomorrow = (t0 + timedelta(days=1)).replace(hour=10, minute=0)
    assert tomorrow.isoformat(timespec="minutes") in notes[0].summary, notes[0].summary
    assert wl.get_wave(app.open_ledger(s), wave_id).status == "waiting"  # type: ignore[union-attr]

    outcome = app.run_wave(s, wave_id, FAST, resume=True,
                           clock=_Clock(tomorrow + timedelta(minutes=5)))
    assert outcome.status == "completed", outcome
    assert outcome.hosts == {"canary-pbx": "done", "late-pbx": "done"}
    _healthy_on(s, "late-pbx", TARGET)
    assert _rows(s, wave_id)["canary-pbx"].attempts == 1
    _reset(s, "canary-pbx", "late-pbx")


# -- 6. kill -9 at several points ----------------------------------------------------------
def test_kill_9_in_precheck_drain_and_postcheck_then_resume_updates_each_host_once(
    env: Settings,
) -> None:
    s = env
    hosts = ("canary-pbx", "alpha-pbx", "bravo-pbx", "charlie-pbx")
    before = {h: _installs(s, h, TARGET) for h in hosts}
    wave_id = _plan(s, customers=("canary", "alpha", "bravo", "charlie"), batch_size=1)

    _kill_when(s, _start(s, "wave", "run", str(wave_id)), wave_id, "canary-pbx", "precheck")
    with lab.hold_call(_address(s, "alpha-pbx")):
        _kill_when(s, _start(s, "wave", "resume", str(wave_id)), wave_id, "alpha-pbx", "drain")
    _kill_when(s, _start(s, "wave", "resume", str(wave_id)), wave_id, "bravo-pbx", "postcheck")
    code, result, tail = _cli(s, "wave", "resume", str(wave_id))

    assert code == 0 and result["status"] == "completed", tail
    rows = _rows(s, wave_id)
    _final(rows, hosts)
    for host in hosts:
        assert rows[host].status == "done", (host, rows[host])
        _healthy_on(s, host, TARGET)
        assert _installs(s, host, TARGET) - before[host] == 1, f"{host}: dpkg installed it again"
        kinds = [a.kind for a in _wave_actions(s, wave_id, host)]
        assert kinds.count("wave.done") == 1 and kinds[-1] == "wave.done", (host, kinds)
        assert kinds.count("wave.running") == rows[host].attempts, (host, kinds)
        # finding 6 of issue 13: a host verified on resume keeps its record
        assert rows[host].version_before == BASE, (host, rows[host])
        assert rows[host].detail.get("backup"), (host, rows[host].detail)
    # bravo was killed after its packages were installed: verified on resume, not redone
    assert rows["bravo-pbx"].attempts == 1, rows["bravo-pbx"]
    assert "(in step postcheck); verified on resume" in _wave_actions(s, wave_id, "bravo-pbx")[-1].summary
    # canary and alpha were killed before anything changed. The ansible-playbook each
    # killed run left behind goes on to the end of its batch (orchestrator/shim: without it,
    # the first message written after its reader died hung it for good, holding the host):
    # resume waits for it, then finds the host updated and only verifies it.
    for host, step in (("canary-pbx", "precheck"), ("alpha-pbx", "drain")):
        notes = [a.summary for a in _wave_actions(s, wave_id, host)]
        assert rows[host].attempts == 1, (host, rows[host], notes)
        assert f"(in step {step}); verified on resume" in notes[-1], notes


# -- 7. Ctrl-C ------------------------------------------------------------------------------
def test_ctrl_c_mid_wave_stops_pbxops_the_batch_in_flight_finishes_and_resume_verifies_it(
    env: Settings,
) -> None:
    """Ctrl-C (SIGINT to pbxops' process group, as a terminal sends it) while alpha drains a
    call, after the canary's batch ran. pbxops ends at once (exit 130, wave `interrupted`, the
    reason names the resume, no further batch); resume re-checks alpha and finishes: one
    install per host. (ansible-runner used to take SIGINT over for good with the first
    playbook: Ctrl-C then killed the playbook in flight and the wave went on.)"""
    s = env
    hosts = ("canary-pbx", "alpha-pbx")
    _reset(s, *hosts)  # the kill -9 test leaves them on the target
    before = {h: _installs(s, h, TARGET) for h in hosts}
    wave_id = _plan(s, customers=("canary", "alpha"), batch_size=1)
    proc = _start(s, "wave", "run", str(wave_id))
    with lab.hold_call(_address(s, "alpha-pbx")):
        _kill_when(s, proc, wave_id, "alpha-pbx", "drain", signal.SIGINT)
        assert proc.returncode == 130
        wave = wl.get_wave(app.open_ledger(s), wave_id)
        assert wave is not None and wave.status == "interrupted", wave
        assert f"pbxops wave resume {wave_id}" in wave.reason, wave.reason
        assert _rows(s, wave_id)["alpha-pbx"].status == "running"

    code, result, tail = _cli(s, "wave", "resume", str(wave_id))
    assert code == 0 and result["status"] == "completed", tail
    rows = _rows(s, wave_id)
    assert rows["canary-pbx"].attempts == 1, rows["canary-pbx"]
    for host in hosts:
        assert rows[host].status == "done", (host, rows[host])
        _healthy_on(s, host, TARGET)
        assert _installs(s, host, TARGET) - before[host] == 1, f"{host}: dpkg installed it again"
    notes = [a.summary for a in _wave_actions(s, wave_id, "alpha-pbx")]
    assert any("step drain)" in n for n in notes), notes  # re-checked: verified or redone
    _reset(s, *hosts)
