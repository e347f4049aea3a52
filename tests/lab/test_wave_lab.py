"""Update waves against real lab hosts: success, entitlement, broken release with halt and
rollback, active calls, host down, kill -9 and resume, concurrent runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from orchestrator import app, lab
from orchestrator.errors import RefusedError
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.waves import RunOptions

from .books import REPO, book_lab, one_pbx_customer
from .conftest import eventually

pytestmark = pytest.mark.lab


def _customer(cid: str, n: int, **kw: Any) -> dict[str, Any]:
    return one_pbx_customer(cid, 60 + n, **kw)


@pytest.fixture(scope="module")
def wave_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    customers = [
        _customer("canary", 0, kind="hosting", internal=True),
        _customer("alpha", 1), _customer("bravo", 2), _customer("charlie", 3),
        _customer("expired", 4, end="2021-12-31"),
    ]
    with book_lab(tmp_path_factory.mktemp("wave"), customers) as settings:
        yield settings


def _version(settings: Settings, host: str) -> str | None:
    return probe(settings_address(settings, host), timeout=3).version


def settings_address(settings: Settings, host: str) -> str:
    return str(app.open_fleet(settings).host(host).address)


def _dpkg(settings: Settings, host: str) -> str:
    return lab.run_in_host(settings, host, ["dpkg-query", "-W", "-f=${Version}", "labpbx"]).strip()


FAST = RunOptions(call_poll_seconds=1)


def _plan(settings: Settings, release: str, **kw: Any) -> int:
    wave_id, _ = app.plan_wave(settings, release, options=PlanOptions(batch_size=2, **kw))
    assert wave_id is not None
    return wave_id


def test_wave_updates_entitled_hosts_and_leaves_the_others(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-18.1")
    outcome = app.run_wave(s, wave_id, FAST)
    assert outcome.status == "completed", [(r["host"], r["status"], r["error"]) for r in app.wave_report(s, wave_id)]
    for host in ("canary-pbx", "alpha-pbx", "bravo-pbx", "charlie-pbx"):
        assert _version(s, host) == "18.1.0"
        assert _dpkg(s, host) == "18.1.0"
    assert _version(s, "expired-pbx") == "18.0.0"
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}
    assert report["expired-pbx"]["status"] == "excluded"
    assert "ended on 2021-12-31" in report["expired-pbx"]["error"]
    assert report["alpha-pbx"]["contract"] == "alpha-c"
    assert (report["alpha-pbx"]["version_before"], report["alpha-pbx"]["version_after"]) == ("18.0.0", "18.1.0")
    actions = app.open_ledger(s).actions(contract_id="alpha-c")
    assert [a.kind for a in actions] == ["wave.running", "wave.done"]
    backups = list((s.state_dir / "backups" / f"wave-{wave_id}" / "alpha-pbx").glob("config-18.0.0-*.tgz"))
    assert backups, "the configuration backup was fetched to the controller"


def test_second_run_of_a_finished_wave_is_refused(wave_env: Settings) -> None:
    wave_id = max(w["id"] for w in app.wave_status(wave_env, None))
    with pytest.raises(RefusedError, match="already completed"):
        app.run_wave(wave_env, wave_id, FAST)


def test_broken_release_halts_after_the_canary_and_rolls_it_back(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-18.2")
    outcome = app.run_wave(s, wave_id, FAST)
    assert outcome.status == "halted" and "canary" in outcome.reason
    assert outcome.hosts["canary-pbx"] == "rolled_back"
    assert _version(s, "canary-pbx") == "18.1.0" and _dpkg(s, "canary-pbx") == "18.1.0"
    for host in ("alpha-pbx", "bravo-pbx", "charlie-pbx"):
        assert outcome.hosts[host] == "pending"
        assert _version(s, host) == "18.1.0"
    row = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}["canary-pbx"]
    assert "rolled back to 18.1.0" in row.error


def test_a_halted_wave_stays_halted_until_overridden_and_abort_cancels_the_rest(
    wave_env: Settings,
) -> None:
    """Finding 1 of issue 13: `wave resume` after a failed canary installed the broken
    release on every other customer. Now resume refuses, naming the halt and the override."""
    s = wave_env
    wave_id = max(w["id"] for w in app.wave_status(s, None) if w["release"] == "pbx-18.2")
    with pytest.raises(RefusedError, match=f"wave {wave_id} is halted: the canary failed"):
        app.run_wave(s, wave_id, FAST, resume=True)
    for host in ("alpha-pbx", "bravo-pbx", "charlie-pbx"):
        assert _version(s, host) == "18.1.0" and _dpkg(s, host) == "18.1.0"
    assert app.abort_wave(s, wave_id, "18.2 is broken") == {"cancelled": 3}
    rows = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}
    assert rows["canary-pbx"].status == "rolled_back"
    assert {rows[h].status for h in ("alpha-pbx", "bravo-pbx", "charlie-pbx")} == {"cancelled"}
    with pytest.raises(RefusedError, match="already aborted"):
        app.run_wave(s, wave_id, FAST, resume=True)


def test_a_contract_ending_between_plan_and_run_excludes_the_host_untouched(
    wave_env: Settings,
) -> None:
    """Finding 3: entitlement is checked when the host's turn comes, not only at plan time."""
    s = wave_env
    wave_id = _plan(s, "pbx-19.0", customers=("bravo",), canary_size=0)
    path = s.book / "customers" / "bravo.yml"
    original = path.read_text()
    ended = yaml.safe_load(original)
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    for contract in ended["contracts"]:
        contract["end"] = yesterday
    path.write_text(yaml.safe_dump(ended, sort_keys=False))
    try:
        outcome = app.run_wave(s, wave_id, FAST)
    finally:
        path.write_text(original)
    assert outcome.hosts["bravo-pbx"] == "excluded", outcome
    row = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}["bravo-pbx"]
    assert "not entitled on" in row.error and f"ended on {yesterday}" in row.error, row.error
    assert row.attempts == 0 and _version(s, "bravo-pbx") == "18.1.0"


def test_a_host_already_at_target_is_verified_only_not_restarted(wave_env: Settings) -> None:
    """Finding 4: a wave to the version a host runs restarted its PBX and recorded
    "updated 18.1.0 -> 18.1.0"."""
    s = wave_env
    assert _version(s, "bravo-pbx") == "18.1.0"
    pid = ["systemctl", "show", "-p", "MainPID,ActiveEnterTimestamp", "labpbx"]
    before = lab.run_in_host(s, "bravo-pbx", pid)
    wave_id = _plan(s, "pbx-18.1", customers=("bravo",), canary_size=0)
    outcome = app.run_wave(s, wave_id, FAST)
    assert outcome.status == "completed" and outcome.hosts["bravo-pbx"] == "already_at_target"
    assert lab.run_in_host(s, "bravo-pbx", pid) == before, "the PBX was restarted"
    actions = [a for a in app.open_ledger(s).actions(contract_id="bravo-c")
               if a.detail.get("wave") == wave_id]
    assert [a.kind for a in actions] == ["wave.running", "wave.already_at_target"]
    assert "updated" not in actions[-1].summary


def test_update_waits_for_the_active_call_to_end(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-19.0", customers=("alpha",))
    address = settings_address(s, "alpha-pbx")
    result: dict[str, Any] = {}
    with lab.hold_call(address):
        assert lab.run_in_host(s, "alpha-pbx", ["labpbx-cli", "calls"]).startswith("1 ")
        runner = threading.Thread(target=lambda: result.update(out=app.run_wave(s, wave_id, FAST)))
        runner.start()
        eventually(lambda: any(r.status == "running" for r in wl.host_rows(app.open_ledger(s), wave_id)), 60)
        time.sleep(5)  # the drain loop polls every second; the call is still up
        assert _version(s, "alpha-pbx") == "18.1.0", "no restart while a call is active"
    runner.join(timeout=300)
    assert result["out"].status == "completed"
    assert _version(s, "alpha-pbx") == "19.0.0"


def test_unreachable_host_is_a_failure_of_that_host_only(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-19.0", customers=("bravo", "charlie"), canary_size=0)
    lab.inject_fault(s, "bravo-pbx", "network-down")
    try:
        outcome = app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1, max_failure_percent=100))
    finally:
        lab.clear_fault(s, "bravo-pbx", "network-down")
    assert outcome.hosts == {"bravo-pbx": "failed", "charlie-pbx": "done"} | {
        h: st for h, st in outcome.hosts.items() if st == "excluded"}
    row = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}["bravo-pbx"]
    assert "unreachable" in row.error.lower() or "unreachable" in str(row.detail)


def test_two_runs_on_the_same_hosts_are_refused(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-19.0", customers=("bravo",), canary_size=0)
    ledger = app.open_ledger(s)
    holder = f"other-machine:1:wave-{wave_id + 100}"
    assert ledger.acquire_lock("host:bravo-pbx", holder, timedelta(minutes=5)) is None
    try:
        with pytest.raises(RefusedError, match="host:bravo-pbx is locked by another run"):
            app.run_wave(s, wave_id, FAST)
    finally:
        ledger.release_lock("host:bravo-pbx", holder)
    assert all(r.status in ("pending", "excluded") for r in wl.host_rows(ledger, wave_id))


def _cli_env(s: Settings) -> dict[str, str]:
    return dict(os.environ, PBXOPS_BOOK=str(s.book), PBXOPS_STATE_DIR=str(s.state_dir),
                PBXOPS_LEDGER_URL=s.ledger, PBXOPS_SSH_CONFIG=str(s.ssh_config),
                PBXOPS_LAB_RUN_DIR=str(s.lab_run_dir), PBXOPS_SMTP_PORT="1")


def test_kill_9_mid_wave_then_resume_finishes_without_updating_twice(wave_env: Settings) -> None:
    s = wave_env
    wave_id = _plan(s, "pbx-19.0", batch_percent=None, canary_size=1)
    pbxops = [sys.executable, "-m", "orchestrator.cli"]
    proc = subprocess.Popen([*pbxops, "wave", "run", str(wave_id), "--call-poll-seconds", "1"],
                            env=_cli_env(s), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ledger = app.open_ledger(s)
    eventually(lambda: any(r.status == "running" for r in wl.host_rows(ledger, wave_id)), 120, 0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # pbxops and its ansible children, mid-step
    proc.wait()
    done_before = {r.hostname for r in wl.host_rows(ledger, wave_id) if r.status == "done"}
    out = subprocess.run([*pbxops, "wave", "resume", str(wave_id), "--json", "--call-poll-seconds", "1"],
                         env=_cli_env(s), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"event": "result"')]
    assert results, out.stdout[-3000:]
    final = results[-1]
    assert final["status"] == "completed"
    rows = {r.hostname: r for r in wl.host_rows(ledger, wave_id)}
    for host in ("canary-pbx", "bravo-pbx", "charlie-pbx"):
        assert rows[host].status in ("done", "already_at_target") and _version(s, host) == "19.0.0"
    for host in done_before:
        assert rows[host].attempts == 1, f"{host} was updated again after it had completed"


def test_os_point_release_upgrade_reboots_and_comes_back(wave_env: Settings) -> None:
    s = wave_env
    init_started = ["sh", "-c", "cut -d' ' -f22 /proc/1/stat"]  # the container's PID 1 start time
    boot = lab.run_in_host(s, "charlie-pbx", init_started).strip()
    wave_id = _plan(s, "debian-12.8", customers=("charlie",), canary_size=0)
    outcome = app.run_wave(s, wave_id, FAST)
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}
    assert outcome.status == "completed", report["charlie-pbx"]
    assert (report["charlie-pbx"]["version_before"], report["charlie-pbx"]["version_after"]) == ("12.7", "12.8")
    assert lab.run_in_host(s, "charlie-pbx", ["cat", "/etc/pbxops-os-release"]).strip() == "12.8"
    assert lab.run_in_host(s, "charlie-pbx", init_started).strip() != boot, "the host rebooted"
    assert probe(settings_address(s, "charlie-pbx"), timeout=3).status == 200, "the PBX came back after the reboot"
