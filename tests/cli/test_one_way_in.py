"""One way in for every command (issue 15): one actor rule, no migration on the way (only
`pbxops db upgrade`), and read-only commands that create and change nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner, Result

from orchestrator.cli import main
from orchestrator.context import actor_of
from orchestrator.ledger import Ledger
from tests.conftest import DEMO_BOOK

READ_ONLY = [
    ["wave", "status"],
    ["wave", "status", "--json"],
    ["db", "status", "--json"],
    ["incident", "list"],
    ["sla", "report", "--period", "2026-10"],
    ["hours", "list", "bergmann"],
    ["contracts", "history", "bergmann"],
    ["access", "status", "--json"],
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items()
           if not k.startswith("PBXOPS_") and k != "SUDO_USER"},
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_BOOK": str(DEMO_BOOK),
        "PBXOPS_SMTP_PORT": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def pbxops(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    return result


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_actor_rule() -> None:
    assert actor_of({"PBXOPS_ACTOR": "scheduler (for ops)", "SUDO_USER": "anna"}) == \
        "scheduler (for ops)"
    assert actor_of({"SUDO_USER": "anna"}) == "anna"
    assert actor_of({"PBXOPS_ACTOR": " ", "SUDO_USER": ""}) not in ("", " ")


def test_under_sudo_a_wave_and_an_incident_record_the_same_person(env: dict[str, str]) -> None:
    """Before: the wave recorded PBXOPS_ACTOR or the login name, the incident SUDO_USER."""
    env = {**env, "SUDO_USER": "anna"}
    plan = pbxops(env, "wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00")
    assert plan.exit_code == 0, plan.output
    opened = pbxops(env, "incident", "open", "bergmann", "phones down", "--no-mail")
    assert opened.exit_code == 0, opened.output
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        waves = {r[0] for r in conn.execute("select created_by from waves")}
        actors = {r[0] for r in conn.execute("select actor from actions")}
    assert waves == {"anna"} and actors == {"anna"}


def test_read_only_commands_create_nothing(env: dict[str, str]) -> None:
    for argv in READ_ONLY:
        result = pbxops(env, *argv)
        assert result.exit_code == 0, (argv, result.output)
    assert not Path(env["PBXOPS_STATE_DIR"]).exists()


def test_read_only_commands_change_nothing(env: dict[str, str]) -> None:
    assert pbxops(env, "wave", "plan", "--release", "pbx-18.1",
                  "--at", "2026-11-25T12:00").exit_code == 0
    state = Path(env["PBXOPS_STATE_DIR"])
    before = _tree(state)
    for argv in READ_ONLY:
        result = pbxops(env, *argv)
        assert result.exit_code == 0, (argv, result.output)
    assert _tree(state) == before


def test_a_ledger_behind_is_refused_until_db_upgrade(env: dict[str, str]) -> None:
    """Before: any command migrated the ledger on the way (also a read-only one, also a
    team's PostgreSQL)."""
    state = Path(env["PBXOPS_STATE_DIR"])
    state.mkdir(mode=0o700)
    old = Ledger(f"sqlite:///{state / 'ledger.sqlite'}", upgrade=False)
    with old.engine.connect() as conn, conn.begin():
        cfg = old._alembic()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_sla")
    old.engine.dispose()
    before = _tree(state)
    for argv in (["wave", "status"], ["wave", "plan", "--release", "pbx-18.1",
                                      "--at", "2026-11-25T12:00"]):
        result = pbxops(env, *argv)
        assert result.exit_code == 2, (argv, result.output)
        assert "run `pbxops db upgrade`" in result.output and "0005_sla" in result.output
        assert _tree(state) == before
    status = pbxops(env, "db", "status")
    assert status.exit_code == 1 and "migrations pending" in status.output
    upgraded = pbxops(env, "db", "upgrade")
    assert upgraded.exit_code == 0 and "applied" in upgraded.output
    assert pbxops(env, "wave", "status").exit_code == 0
