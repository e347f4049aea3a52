"""Shared by the CLI tests of waves: the demo book, a private state dir, mail going nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from tests.conftest import DEMO_BOOK


@pytest.fixture
def demo_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PBXOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PBXOPS_BOOK", str(DEMO_BOOK))
    monkeypatch.setenv("PBXOPS_SMTP_PORT", "1")  # nothing listens: every mail fails
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)
    return CliRunner()


def plan_demo_wave(runner: CliRunner) -> int:
    """`wave plan --release pbx-18.1` on the demo book at a fixed time; the new wave's id."""
    out = runner.invoke(main, ["wave", "plan", "--release", "pbx-18.1", "--at",
                               "2026-11-25T12:00", "--json"])
    assert out.exit_code == 0, out.output
    return int(json.loads(out.output)["wave"])
