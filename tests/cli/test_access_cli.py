"""The access commands' refusals as a user sees them: one line, a meaningful exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from tests.secret_key import ensure_key_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(ensure_key_env({
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
    }))


def test_grant_to_a_customer_without_sla_is_refused(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["access", "grant", "fjord"], env=env)
    assert result.exit_code == 5
    assert "remote access is an SLA service" in result.output


def test_a_pool_overlapping_customer_networks_is_refused(env: dict[str, str]) -> None:
    env = {**env, "PBXOPS_VPN_POOL": "10.210.0.0/16"}
    result = CliRunner().invoke(main, ["access", "grant", "clinic-nord"], env=env)
    assert result.exit_code == 5
    assert "overlaps customer networks" in result.output


def test_status_of_a_fresh_ledger_is_empty(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["access", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "[]"


def test_run_needs_to_know_the_technician(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["run", "clinic-nord", "--", "uptime"], env=env)
    assert result.exit_code == 2
    assert "--as TECHNICIAN" in result.output
