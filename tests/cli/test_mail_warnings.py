"""A summary or notification mail that did not go out is said on the console (stderr),
not only recorded in the ledger (issue 16): the wave's summary mail after run/resume, the
health sweep's incident notifications (`incident open` already warns)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import app
from orchestrator.cli import health as health_cli
from orchestrator.cli import main
from orchestrator.health.service import SweepOutcome
from orchestrator.health.sweep import SweepResult
from orchestrator.ledger import ActionRecord
from orchestrator.settings import Settings, load_settings
from orchestrator.sla.incidents import Opened
from orchestrator.waves import WaveOutcome
from tests.cli.conftest import plan_demo_wave


def _finished_run(monkeypatch: pytest.MonkeyPatch, mail: bool) -> None:
    """``wave run`` whose engine finds nothing to do; the real summary mail after it."""

    def run_wave(settings: Settings, wave_id: int, *_: Any, **__: Any) -> WaveOutcome:
        outcome = WaveOutcome(wave_id, "completed", "", {"lab-pbx": "done"})
        if mail:
            app._mail_wave(settings, app.open_ledger(settings), wave_id, outcome)
        return outcome

    monkeypatch.setattr(app, "run_wave", run_wave)


@pytest.mark.parametrize("as_json", [False, True])
def test_wave_run_says_when_its_summary_mail_failed(
    demo_runner: CliRunner, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    wave_id = plan_demo_wave(demo_runner)
    _finished_run(monkeypatch, mail=True)
    out = demo_runner.invoke(main, ["wave", "run", str(wave_id), *(["--json"] if as_json else [])])
    assert out.exit_code == 0, out.output
    assert f"warning: wave {wave_id} report NOT mailed" in out.stderr
    assert f"pbxops wave report {wave_id}" in out.stderr
    assert "NOT mailed" not in out.stdout  # JSON on stdout stays JSON


def test_no_warning_when_the_summary_mail_went_out(
    demo_runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave_id = plan_demo_wave(demo_runner)
    _finished_run(monkeypatch, mail=False)
    settings = load_settings({})
    app.open_ledger(settings).record(ActionRecord(
        "wave.mail", "*", None, f"wave {wave_id} report mailed to ops", "t",
        detail={"wave": wave_id}))
    out = demo_runner.invoke(main, ["wave", "run", str(wave_id)])
    assert out.exit_code == 0 and "warning" not in out.stderr, out.output
    assert app.wave_mail_failure(settings, wave_id + 1) is None


def test_health_sweep_says_when_an_incident_mail_failed(
    demo_runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident: Any = SimpleNamespace(ticket="INC-000007", host="bergmann-pbx")
    result = SweepResult(datetime.now(UTC), 0.1, (), 1)
    outcome = SweepOutcome(result, (Opened(incident, (), "connection refused"),), ())
    monkeypatch.setattr(health_cli.service, "health_sweep", lambda *a, **k: outcome)
    out = demo_runner.invoke(main, ["health", "sweep", "--json"])
    assert "warning: notification mail for INC-000007 failed: connection refused" in out.stderr
    assert json.loads(out.stdout)["opened"] == ["INC-000007"]
