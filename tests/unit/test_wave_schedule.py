"""Scheduled waves without systemd: the openings a timer gets, the units' text, and a clear
refusal (nothing written) on a machine without systemd as PID 1. The timer itself is
proven in a booted lab host acting as the controller (tests/lab/test_schedule_lab.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator import app, systemd
from orchestrator.errors import ConfigError
from orchestrator.planner import PlanOptions
from orchestrator.waves.gates import Gates
from orchestrator.waves.schedule import next_openings, render_units

from .test_rollout_rules import _settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_openings_are_now_for_open_windows_and_the_next_start_for_closed_ones(
    tmp_path: Path,
) -> None:
    s = _settings(tmp_path)  # three hosts, windows always open
    fleet = app.open_fleet(s)
    gates = Gates({r.hostname: r for r in fleet.hosts()}, False, timedelta(minutes=15), 7)
    assert next_openings(gates, ["alpha-pbx", "bravo-pbx"], NOW) == [NOW]
    assert next_openings(gates, [], NOW) == []


def test_units_fire_at_each_opening_persistently_and_quote_their_words() -> None:
    openings = [NOW, NOW + timedelta(hours=10, seconds=30)]
    units = render_units(7, openings, ["/opt/venv/bin/python", "-m", "orchestrator.cli",
                                       "--config", "/var/x y/wave-7.yml", "wave", "resume", "7"],
                         "/srv/pbxops", env={"PBXOPS_ACTOR": "scheduler (for ops)"})
    assert "OnCalendar=2026-11-25 12:00:00 UTC\nOnCalendar=2026-11-25 22:00:00 UTC\n" in units.timer
    assert "Persistent=true" in units.timer and "WantedBy=timers.target" in units.timer
    assert 'ExecStart=/opt/venv/bin/python -m orchestrator.cli --config "/var/x y/wave-7.yml"' \
        in units.service
    assert 'Environment="PBXOPS_ACTOR=scheduler (for ops)"' in units.service
    assert "SuccessExitStatus=10 11 12" in units.service


def test_schedule_without_systemd_is_one_clear_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(tmp_path)
    s = s.model_copy(update={"systemd_unit_dir": tmp_path / "units"})
    wave_id, _ = app.plan_wave(s, "pbx-18.1", at=NOW, options=PlanOptions(batch_size=2))
    assert wave_id is not None
    monkeypatch.setattr(systemd, "booted", lambda: False)
    with pytest.raises(ConfigError, match="systemd is not running"):
        app.schedule_wave(s, wave_id)
    assert not (tmp_path / "units").exists()
    assert not (s.state_dir / "schedule").exists()


def test_the_readme_state_table_is_the_one_the_engine_runs() -> None:
    from orchestrator.waves.states import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    copy = readme.split("<!-- states:begin -->\n", 1)[1].split("\n<!-- states:end -->", 1)[0]
    assert copy == markdown_table()
