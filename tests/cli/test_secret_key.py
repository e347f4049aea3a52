"""The secret key (issue 15, finding 2): made once by `pbxops secrets init`, refused when
missing or readable by others, and checked against the ledger before anything is written
under it. Each refusal writes nothing."""

from __future__ import annotations

import copy
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import main
from tests.unit.phones_book import write_book
from tests.unit.phones_data import CUSTOMER


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PBXOPS_")},
        "PBXOPS_BOOK": str(write_book(tmp_path / "book")),
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_SECRET_KEY_FILE": str(tmp_path / "keys" / "secret.key"),
        "PBXOPS_ACTOR": "tech-anna",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def pbxops(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), repr(result.exception)
    return result


def _credential_rows(env: dict[str, str]) -> int:
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from phone_credentials").fetchone()[0])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_private_key_once(env: dict[str, str]) -> None:
    key = Path(env["PBXOPS_SECRET_KEY_FILE"])
    assert "never replaced" in pbxops(env, "secrets", "init", "--help").output
    made = pbxops(env, "secrets", "init")
    assert made.exit_code == 0, made.output
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    first = key.read_bytes()
    again = pbxops(env, "secrets", "init")
    assert again.exit_code == 5 and f"secret_key_file {key} exists" in again.output
    assert key.read_bytes() == first


def test_a_missing_key_is_an_error_naming_the_file_and_the_command(env: dict[str, str]) -> None:
    key = Path(env["PBXOPS_SECRET_KEY_FILE"])
    result = pbxops(env, "phones", "credentials", "acme")
    assert result.exit_code == 2, result.output
    assert f"secret_key_file {key} does not exist" in result.output
    assert "pbxops secrets init" in result.output
    assert not key.exists()  # before: made silently, and every stored secret lost with it
    assert not Path(env["PBXOPS_STATE_DIR"]).exists()  # no ledger, no state dir


def test_a_key_readable_by_others_is_refused(env: dict[str, str]) -> None:
    assert pbxops(env, "secrets", "init").exit_code == 0
    key = Path(env["PBXOPS_SECRET_KEY_FILE"])
    key.chmod(0o644)
    result = pbxops(env, "phones", "credentials", "acme")
    assert result.exit_code == 2, result.output
    assert f"secret_key_file {key}" in result.output and "mode 0644" in result.output
    assert not Path(env["PBXOPS_STATE_DIR"]).exists()


def test_a_key_in_a_directory_open_to_others_is_neither_made_nor_used(env: dict[str, str]) -> None:
    key = Path(env["PBXOPS_SECRET_KEY_FILE"])
    key.parent.mkdir(mode=0o755)
    key.parent.chmod(0o755)
    refused = pbxops(env, "secrets", "init")
    assert refused.exit_code == 2, refused.output
    assert f"its directory {key.parent}" in refused.output and "mode 0755" in refused.output
    assert not key.exists()
    key.parent.chmod(0o700)
    assert pbxops(env, "secrets", "init").exit_code == 0
    key.parent.chmod(0o750)  # opened afterwards: the key is not used
    result = pbxops(env, "phones", "credentials", "acme")
    assert result.exit_code == 2 and "mode 0750" in result.output, result.output
    assert not Path(env["PBXOPS_STATE_DIR"]).exists()


def test_a_wrong_key_writes_no_new_phone(tmp_path: Path, env: dict[str, str]) -> None:
    """Before: the new phone's password was stored under the wrong key, after which even
    the right key could not read the customer's credentials."""
    assert pbxops(env, "secrets", "init").exit_code == 0
    assert pbxops(env, "phones", "credentials", "acme").exit_code == 0
    rows = _credential_rows(env)
    wrong = {**env, "PBXOPS_SECRET_KEY_FILE": str(tmp_path / "other" / "secret.key")}
    # a second key for the same ledger is refused by init itself ...
    refused = pbxops(wrong, "secrets", "init")
    assert refused.exit_code == 5 and "already holds secrets" in refused.output
    assert not Path(wrong["PBXOPS_SECRET_KEY_FILE"]).exists()
    # ... and one made elsewhere does not get to write
    elsewhere = {**wrong, "PBXOPS_STATE_DIR": str(tmp_path / "elsewhere")}
    assert pbxops(elsewhere, "secrets", "init").exit_code == 0
    acme = copy.deepcopy(CUSTOMER["systems"][0])
    acme["phones"].append({"mac": "80:5E:C0:00:00:09", "vendor": "yealink", "model": "T54W",
                           "extension": "109", "display_name": "New Phone"})
    write_book(Path(env["PBXOPS_BOOK"]), {"systems": [acme]})
    result = pbxops(wrong, "phones", "credentials", "acme")
    assert result.exit_code == 2, result.output
    assert "does not open" in result.output and "nothing was written" in result.output
    assert _credential_rows(env) == rows
    right = pbxops(env, "phones", "credentials", "acme", "--json")
    assert right.exit_code == 0 and '"109"' in right.output  # the right key still reads all
