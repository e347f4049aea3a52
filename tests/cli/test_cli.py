"""The command line: --help everywhere, clear errors, meaningful exit codes, --json."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER, BookFactory


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


ALL_COMMANDS = list(_commands(main))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PBXOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)
    return CliRunner()


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(runner: CliRunner, path: tuple[str, ...]) -> None:
    result = runner.invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    cmd: click.Command = main
    for part in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[part]
    assert (cmd.help or "").strip(), f"pbxops {' '.join(path)} has no help text"


def test_entitled_on_demo_book(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--book", str(DEMO_BOOK), "fleet", "entitled", "--on", "2026-11-25", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_host = {r["hostname"]: r for r in data["systems"]}
    assert by_host["clinic-nord-pbx"]["entitled"] is True
    assert by_host["eisenwerk-pbx"]["entitled"] is False
    assert "ended on 2026-06-30" in by_host["eisenwerk-pbx"]["reason"]
    assert by_host["fjord-pbx"]["reason"] == "hardware PBX: no software-maintenance contract"


def test_entitled_table_lists_reasons(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--book", str(DEMO_BOOK), "fleet", "entitled", "--on", "2026-11-25"]
    )
    assert result.exit_code == 0
    assert "starts on 2027-01-01" in result.output and "9 of 13 entitled" in result.output


def test_bad_book_exits_nonzero_naming_file_line_and_problem(
    runner: CliRunner, make_book: BookFactory
) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["systems"][0]["phones"][1]["extension"] = "101"
    book = make_book(c)
    result = runner.invoke(main, ["--book", str(book), "fleet", "entitled"])
    assert result.exit_code == 3
    assert "customers/acme.yml:" in result.output
    assert "duplicate extension 101" in result.output
    assert "Traceback" not in result.output


def test_validate_json_lists_findings(runner: CliRunner, make_book: BookFactory) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["timezone"] = "Nowhere/City"
    result = runner.invoke(main, ["--book", str(make_book(c)), "fleet", "validate", "--json"])
    assert result.exit_code == 3
    data = json.loads(result.output)
    assert data["ok"] is False and data["issues"][0]["path"] == "timezone"


def test_validate_ok(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--book", str(DEMO_BOOK), "fleet", "validate"])
    assert result.exit_code == 0 and "valid" in result.output


def test_missing_book_is_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--book", str(tmp_path / "nobook"), "fleet", "show"])
    assert result.exit_code != 0
    assert "contract book directory does not exist" in result.output


def test_debug_env_shows_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBXOPS_DEBUG", "1")
    result = runner.invoke(main, ["--book", str(tmp_path / "nobook"), "fleet", "show"])
    assert result.exit_code != 0 and result.exception is not None


def test_inventory_static_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "inv.yml"
    result = runner.invoke(
        main, ["--book", str(DEMO_BOOK), "fleet", "inventory", "--static", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "clinic-nord-pbx" in out.read_text()


def test_db_upgrade_then_status(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.sqlite"
    first = runner.invoke(main, ["--ledger-url", url, "db", "upgrade"])
    assert first.exit_code == 0 and "applied" in first.output
    second = runner.invoke(main, ["--ledger-url", url, "db", "upgrade"])
    assert "already up to date" in second.output
    status = runner.invoke(main, ["--ledger-url", url, "db", "status", "--json"])
    assert json.loads(status.output)["up_to_date"] is True


def test_bad_ledger_url_is_a_config_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--ledger-url", "nonsense", "db", "status"])
    assert result.exit_code == 2 and "ledger URL" in result.output


def test_unknown_config_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--config", str(tmp_path / "none.yml"), "fleet", "show"])
    assert result.exit_code == 2 and "config file not found" in result.output
