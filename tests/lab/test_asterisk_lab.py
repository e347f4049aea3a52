"""Update waves against REAL Asterisk (the Debian package on sid lab hosts, see
orchestrator/lab/asterisk.py): a good release, a broken release rolled back, a live call
drained, and kill -9 of `pbxops wave run` mid-update then `wave resume`.

The releases are the real Debian build repacked under lab versions
(lab/packages/asterisk/repack.toml): the version of record is the dpkg version; the running
daemon is checked with `core show version` and its start after the install (the asterisk
profile's running check, orchestrator/platforms.py). Two hosts keep the module lean."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator import app, lab
from orchestrator.lab.asterisk import Repack
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.waves import RunOptions

from . import waves
from .books import book_lab, one_pbx_customer
from .conftest import eventually

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                       reason="real-Asterisk scenarios do not depend on the Ansible strategy: "
                              "run once, under the default"),
]

UPSTREAM, LAB1, LAB2, LAB3 = Repack.load().versions[:4]
PACKAGES = Repack.load().packages
CANARY, OTHER = "asta-pbx", "astb-pbx"
FAST = RunOptions(call_poll_seconds=1)


@pytest.fixture(scope="module")
def ast_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    customers = [
        one_pbx_customer("asta", 80, kind="hosting", internal=True, profile="asterisk"),
        one_pbx_customer("astb", 81, profile="asterisk"),
    ]
    with book_lab(tmp_path_factory.mktemp("asterisk"), customers) as settings:
        yield settings


def _plan(s: Settings, release: str, **kw: Any) -> int:
    wave_id, _ = app.plan_wave(s, release, options=PlanOptions(batch_size=2, **kw))
    assert wave_id is not None
    return wave_id


def _sh(s: Settings, host: str, script: str) -> str:
    return lab.run_in_host(s, host, ["sh", "-c", script]).strip()


def _installed(s: Settings, host: str) -> dict[str, str]:
    out = lab.run_in_host(s, host, ["dpkg-query", "-W", "-f=${Package} ${Version}\n", *PACKAGES])
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def _main_pid(s: Settings, host: str) -> str:
    return _sh(s, host, "systemctl show --property=MainPID --value asterisk")


def _active_calls(s: Settings, host: str) -> int:
    out = _sh(s, host, "asterisk -rx 'core show channels count'")
    return int(next(line.split()[0] for line in out.splitlines() if "active call" in line))


def _answers(s: Settings, host: str) -> tuple[int | None, str]:
    answer = probe(waves.address(s, host), timeout=3)
    return answer.status, answer.server


def _healthy_on(s: Settings, host: str, version: str) -> None:
    assert _installed(s, host) == dict.fromkeys(PACKAGES, version), _installed(s, host)
    assert eventually(lambda: _answers(s, host)[0] == 200, 30), _answers(s, host)
    server = _answers(s, host)[1]
    assert server.startswith("Asterisk PBX 22."), server  # PJSIP itself answers OPTIONS
    assert "Asterisk 22." in _sh(s, host, "asterisk -rx 'core show version'")


def _installs(s: Settings, host: str, version: str) -> int:
    """How often dpkg installed asterisk ``version`` on the host (the host's own log)."""
    out = _sh(s, host, f"grep -c ' status installed asterisk:amd64 {version}$' "
                       "/var/log/dpkg.log || true")
    return int(out or 0)


def test_update_to_a_good_release_records_versions_and_restarts_asterisk(
        ast_env: Settings) -> None:
    s = ast_env
    for host in (CANARY, OTHER):
        _healthy_on(s, host, UPSTREAM)
    pids = {host: _main_pid(s, host) for host in (CANARY, OTHER)}
    wave_id = _plan(s, "asterisk-22.10-lab1")
    outcome = app.run_wave(s, wave_id, FAST)
    rows = waves.rows(s, wave_id)
    assert outcome.status == "completed", {h: (r.status, r.error) for h, r in rows.items()}
    for host in (CANARY, OTHER):
        assert rows[host].status == "done"
        assert (rows[host].version_before, rows[host].version_after) == (UPSTREAM, LAB1)
        _healthy_on(s, host, LAB1)
        assert _main_pid(s, host) != pids[host], f"{host}: asterisk was not restarted"


def test_broken_release_is_rolled_back_to_the_old_version_answering(ast_env: Settings) -> None:
    s = ast_env
    wave_id = _plan(s, "asterisk-22.10-lab2", customers=("astb",), canary_size=0)
    app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1, max_failure_percent=100))
    row = waves.rows(s, wave_id)[OTHER]
    assert row.status == "rolled_back", (row.status, row.error)
    assert _installs(s, OTHER, LAB2) == 1, "the broken release was never installed"
    _healthy_on(s, OTHER, LAB1)
    loaded = _sh(s, OTHER, "asterisk -rx 'module show like res_pjsip.so'")
    assert "1 modules loaded" in loaded, loaded


def test_update_waits_for_a_live_call_and_never_cuts_it(ast_env: Settings) -> None:
    s = ast_env
    wave_id = _plan(s, "asterisk-22.10-lab3", customers=("asta",))
    pid = _main_pid(s, CANARY)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(out=app.run_wave(s, wave_id, FAST)))
    with lab.hold_call(waves.address(s, CANARY), real_pbx=True):  # BYE must get 200
        assert _active_calls(s, CANARY) == 1
        runner.start()
        assert eventually(lambda: waves.rows(s, wave_id)[CANARY].step == "drain", 120, 0.2)
        reached = time.monotonic()
        time.sleep(8)  # eight polls of the drain loop with the call up
        assert waves.rows(s, wave_id)[CANARY].step == "drain"
        assert _active_calls(s, CANARY) == 1 and _main_pid(s, CANARY) == pid
        assert _installed(s, CANARY)["asterisk"] == LAB1, "updated during a live call"
        hung_up = time.monotonic()
    assert eventually(lambda: waves.rows(s, wave_id)[CANARY].step != "drain", 60, 0.2)
    moved_on = time.monotonic()
    runner.join(timeout=300)
    assert result["out"].status == "completed"
    _healthy_on(s, CANARY, LAB3)
    print(f"\ndrain with a live call on real Asterisk: waited {hung_up - reached:.1f} s with "
          f"the call up; went on {moved_on - hung_up:.1f} s after the hang-up")


def test_kill_9_mid_update_then_resume_recovers_without_installing_twice(
        ast_env: Settings) -> None:
    s = ast_env
    wave_id = _plan(s, "asterisk-22.10-lab3", customers=("astb",), canary_size=0)
    proc = waves.start(s, "wave", "run", str(wave_id))
    waves.kill_when(s, proc, wave_id, OTHER, "update")
    assert waves.rows(s, wave_id)[OTHER].status == "running"
    code, final, tail = waves.cli(s, "wave", "resume", str(wave_id))
    assert code == 0 and final["status"] == "completed", tail
    row = waves.rows(s, wave_id)[OTHER]
    assert row.status == "done", (row.status, row.error)
    assert (row.version_before, row.version_after) == (LAB1, LAB3)
    _healthy_on(s, OTHER, LAB3)
    assert _installs(s, OTHER, LAB3) == 1, "installed again after the resume"
