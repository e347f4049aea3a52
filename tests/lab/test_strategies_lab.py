"""The wave's main paths under the Mitogen strategy (``strategy: mitogen_linear``), with proof
that Mitogen really ran them: no fallback in the strategy environment, and Mitogen's own
interpreter (``python3(mitogen:...)``) seen on a lab host while the wave runs. Mitogen is
the default strategy; ``make test`` runs the whole lab suite once with it and once more
with ``PBXOPS_STRATEGY=linear`` (``make test-linear``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import app, executor, lab
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.waves import RunOptions, WaveOutcome

from .books import book_lab
from .test_wave_lab import _customer

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
FAST = RunOptions(call_poll_seconds=1)
HOSTS = ("canary-pbx", "alpha-pbx", "bravo-pbx")
MITOGEN_PROCESS = "(mitogen:"  # argv[0] Mitogen gives the interpreter it starts on a target


@pytest.fixture(scope="module")
def mitogen_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    customers = [_customer("canary", 0, kind="hosting", internal=True), _customer("alpha", 1),
                 _customer("bravo", 2)]
    with book_lab(tmp_path_factory.mktemp("mitogen"), customers) as settings:
        yield settings.model_copy(update={"strategy": "mitogen_linear"})


def _mitogen_running_on(s: Settings, host: str) -> bool:
    argv0s = lab.run_in_host(s, host, ["sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n'"])
    return MITOGEN_PROCESS in argv0s


def _run_watching(s: Settings, wave_id: int, host: str) -> tuple[WaveOutcome, bool]:
    """Run the wave; meanwhile look on ``host`` for Mitogen's interpreter."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["out"] = app.run_wave(s, wave_id, FAST)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    seen = False
    while runner.is_alive():
        seen = seen or _mitogen_running_on(s, host)
        runner.join(timeout=0.2)
    if "error" in result:
        raise result["error"]
    return result["out"], seen


def test_the_strategy_environment_is_mitogen_not_the_fallback(mitogen_env: Settings) -> None:
    env = executor.strategy_env(mitogen_env.strategy)
    assert "PBXOPS_STRATEGY_FALLBACK" not in env, env
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()


def test_wave_under_mitogen_updates_every_host_and_records_it(mitogen_env: Settings) -> None:
    s = mitogen_env
    wave_id, _ = app.plan_wave(s, "pbx-18.1", options=PlanOptions(batch_size=2))
    assert wave_id is not None
    outcome, mitogen_seen = _run_watching(s, wave_id, "canary-pbx")
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}
    assert outcome.status == "completed", report
    assert mitogen_seen, "no Mitogen interpreter on the host: the wave did not run under Mitogen"
    for host in HOSTS:
        assert probe(str(app.open_fleet(s).host(host).address), timeout=3).version == "18.1.0"
        assert (report[host]["version_before"], report[host]["version_after"]) == ("18.0.0", "18.1.0")
    rows = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}
    assert {h: (rows[h].status, rows[h].attempts) for h in HOSTS} == {h: ("done", 1) for h in HOSTS}
    kinds = [a.kind for a in app.open_ledger(s).actions(contract_id="alpha-c")]
    assert kinds == ["wave.running", "wave.done"]


def test_broken_release_under_mitogen_halts_and_rolls_the_canary_back(mitogen_env: Settings) -> None:
    s = mitogen_env
    wave_id, _ = app.plan_wave(s, "pbx-18.2", options=PlanOptions(batch_size=2))
    assert wave_id is not None
    outcome, mitogen_seen = _run_watching(s, wave_id, "canary-pbx")
    assert mitogen_seen
    assert outcome.status == "halted" and "canary" in outcome.reason
    assert outcome.hosts["canary-pbx"] == "rolled_back"
    assert outcome.hosts["alpha-pbx"] == outcome.hosts["bravo-pbx"] == "pending"
    for host in HOSTS:
        assert probe(str(app.open_fleet(s).host(host).address), timeout=3).version == "18.1.0"
    row = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}["canary-pbx"]
    assert "rolled back to 18.1.0" in row.error
