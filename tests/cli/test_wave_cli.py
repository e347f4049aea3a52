"""`pbxops wave` commands without a lab: refusals are one clear line with the documented
exit code and change nothing; status shows each host; abort needs a reason."""

from __future__ import annotations

import json

from click.testing import CliRunner

from orchestrator.cli import main
from tests.cli.conftest import plan_demo_wave


def _status(runner: CliRunner, wave_id: int) -> dict[str, object]:
    out = runner.invoke(main, ["wave", "status", str(wave_id), "--json"])
    assert out.exit_code == 0, out.output
    result: dict[str, object] = json.loads(out.output)[0]
    return result


def test_override_halt_needs_a_reason_and_a_reason_needs_the_override(demo_runner: CliRunner) -> None:
    wave_id = plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "resume", str(wave_id), "--override-halt"])
    assert out.exit_code == 2 and "--override-halt needs --reason" in out.output
    out = demo_runner.invoke(main, ["wave", "resume", str(wave_id), "--reason", "x"])
    assert out.exit_code == 2 and "--reason goes with --override-halt" in out.output
    assert _status(demo_runner, wave_id)["status"] == "planned"


def test_override_on_a_wave_that_is_not_halted_is_refused(demo_runner: CliRunner) -> None:
    wave_id = plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "resume", str(wave_id), "--override-halt", "--reason", "x"])
    assert out.exit_code == 5, out.output
    assert f"wave {wave_id} is planned, not halted" in out.output
    assert "Traceback" not in out.output
    assert _status(demo_runner, wave_id)["overrides"] == []


def test_abort_cancels_a_planned_wave_and_then_refuses_everything(demo_runner: CliRunner) -> None:
    wave_id = plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "abort", str(wave_id)])
    assert out.exit_code == 2 and "--reason" in out.output  # required option
    out = demo_runner.invoke(main, ["wave", "abort", str(wave_id), "--reason", "release withdrawn"])
    assert out.exit_code == 0 and "aborted" in out.output and "cancelled" in out.output
    status = _status(demo_runner, wave_id)
    assert status["status"] == "aborted" and "release withdrawn" in str(status["reason"])
    hosts = status["host_rows"]
    assert isinstance(hosts, list)
    assert {h["status"] for h in hosts} <= {"cancelled", "excluded", "deferred"}
    for command in ("run", "resume"):
        out = demo_runner.invoke(main, ["wave", command, str(wave_id)])
        assert out.exit_code == 5 and f"wave {wave_id} is already aborted" in out.output
    out = demo_runner.invoke(main, ["wave", "retry-failed", str(wave_id)])
    assert out.exit_code == 5 and "no failed" in out.output, out.output


def test_status_of_one_wave_shows_each_host_state_and_step(demo_runner: CliRunner) -> None:
    wave_id = plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "status", str(wave_id)], terminal_width=80)
    assert out.exit_code == 0, out.output
    assert "clinic-nord-pbx" in out.output and "pending" in out.output
    assert "step" in out.output


def test_wave_states_prints_the_table(demo_runner: CliRunner) -> None:
    out = demo_runner.invoke(main, ["wave", "states"])
    assert out.exit_code == 0 and "`resume --override-halt`" in out.output


def test_status_of_wave_0_is_not_found_not_a_traceback(demo_runner: CliRunner) -> None:
    plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "status", "0"])
    assert out.exit_code == 4 and "no wave with id 0" in out.output, out.output
    out = demo_runner.invoke(main, ["wave", "abort", "1", "--reason", "  "])
    assert out.exit_code == 2 and "--reason" in out.output


def test_planning_a_release_again_for_the_same_hosts_warns_naming_the_other_wave(
    demo_runner: CliRunner,
) -> None:
    first = plan_demo_wave(demo_runner)
    out = demo_runner.invoke(main, ["wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00"])
    assert out.exit_code == 0, out.output
    assert f"warning: wave {first} (not finished) plans pbx-18.1" in out.output
    assert f"pbxops wave abort {first}" in out.output
    for wave_id in (first, first + 1):
        demo_runner.invoke(main, ["wave", "abort", str(wave_id), "--reason", "replaced"])
    out = demo_runner.invoke(main, ["wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00"])
    assert "warning" not in out.output, out.output  # aborted waves are no conflict
