"""Issue 15, bad input by class: each is one readable message naming the file or option,
the README's exit code, and nothing written (no ledger row, no output file, no key)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import main
from tests.conftest import DEMO_BOOK
from tests.secret_key import ensure_key_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    return dict(ensure_key_env({
        **{k: v for k, v in os.environ.items() if not k.startswith("PBXOPS_")},
        "PBXOPS_STATE_DIR": str(state),
        "PBXOPS_BOOK": str(DEMO_BOOK),
        "PBXOPS_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "PBXOPS_SMTP_PORT": "1",  # nothing listens: a mail attempt fails fast
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }))


def pbxops(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {args}: {result.exception!r}") from result.exception
    return result


def _ledger_rows(env: dict[str, str], table: str) -> int:
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"book: [\xff\xfe\n", "not UTF-8"),
        (b"forks: 2027-02-30\n", "setting 'forks' (config file"),
        (b"book: 2027-02-30\n", "2027-02-30"),
        (b"strategy: turbo\n", "unknown strategy 'turbo'"),
        (b"forks: 0\n", "setting 'forks'"),
    ],
)
def test_a_bad_config_file_is_named(
    env: dict[str, str], tmp_path: Path, content: bytes, says: str
) -> None:
    config = tmp_path / "pbxops.yml"
    config.write_bytes(content)
    env = {k: v for k, v in env.items() if k != "PBXOPS_BOOK"}  # the file's own book
    result = pbxops(env, "--config", str(config), "fleet", "validate")
    assert result.exit_code in (2, 3), result.output
    assert says in result.output


# -- the ledger -----------------------------------------------------------------------------


def test_a_garbage_ledger_file_is_a_clear_error(env: dict[str, str]) -> None:
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(200))
    before = db.read_bytes()
    result = pbxops(env, "wave", "status", "1")
    assert result.exit_code == 2 and "cannot open ledger" in result.output
    assert db.read_bytes() == before


def test_an_empty_ledger_file_is_not_started_afresh(env: dict[str, str]) -> None:
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    db.parent.mkdir(parents=True)
    db.touch()
    result = pbxops(env, "db", "status")
    assert result.exit_code == 2 and "is empty (0 bytes)" in result.output
    assert db.stat().st_size == 0


def test_a_ledger_from_a_newer_pbxops_is_named_and_not_upgraded(env: dict[str, str]) -> None:
    assert pbxops(env, "db", "upgrade").exit_code == 0
    db = Path(env["PBXOPS_STATE_DIR"]) / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("update alembic_version set version_num = '9999_from_the_future' "
                     "where version_num = (select max(version_num) from alembic_version)")
    for argv in (["db", "status"], ["db", "upgrade"], ["wave", "status", "1"]):
        result = pbxops(env, *argv)
        assert result.exit_code == 2, (argv, result.output)
        assert "9999_from_the_future, which this pbxops does not know" in result.output
        assert "run: pbxops db upgrade" not in result.output


@pytest.mark.parametrize(
    "url", ["nosuch://x/y", "postgresql+nodriver://u@h/db", "mysql://u:pw@h/db", ":::"]
)
def test_an_unknown_database_driver_is_a_clear_error(env: dict[str, str], url: str) -> None:
    result = pbxops(env, "--ledger-url", url, "db", "status")
    assert result.exit_code == 2 and "ledger URL" in result.output
    assert "pw" not in result.output


# -- incidents and hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--at", "9999-12-31T23:59+00:00"], "is in the future"),
        (["--at", "2099-01-01T00:00+00:00"], "is in the future"),
        (["--at", "0001-01-01T00:00+00:00"], "is before 2000-01-01"),
    ],
)
def test_incident_times_must_have_happened(
    env: dict[str, str], args: list[str], says: str
) -> None:
    assert pbxops(env, "db", "upgrade").exit_code == 0
    result = pbxops(env, "incident", "open", "bergmann", "phones dead", "--no-mail", *args)
    assert result.exit_code == 5 and "--at" in result.output and says in result.output
    assert _ledger_rows(env, "incidents") == 0


@pytest.mark.parametrize("title", ["line one\r\nBcc: someone@else.example", "tab\there", "a\x00"])
def test_an_incident_title_is_one_line_checked_before_anything_is_written(
    env: dict[str, str], title: str
) -> None:
    assert pbxops(env, "db", "upgrade").exit_code == 0
    result = pbxops(env, "incident", "open", "bergmann", title)
    assert result.exit_code == 5 and "incident title" in result.output
    assert _ledger_rows(env, "incidents") == 0


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf"])
def test_hours_that_are_no_number_are_refused(env: dict[str, str], hours: str) -> None:
    assert pbxops(env, "db", "upgrade").exit_code == 0
    result = pbxops(env, "hours", "book", "bergmann", "--", hours, "reconfigure the IVR")
    assert result.exit_code == 5 and "hours" in result.output
    assert _ledger_rows(env, "hour_bookings") == 0


def test_sla_report_at_the_edges_of_the_calendar(env: dict[str, str]) -> None:
    for argv in (["--from", "0001-01-01"], ["--from", "9999-12-31"], ["--to", "9999-12-31"]):
        result = pbxops(env, "sla", "report", *argv)
        assert result.exit_code in (0, 2, 5), (argv, result.output)


# -- files written ---------------------------------------------------------------------------


def test_docs_for_several_customers_check_all_before_writing_any(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "docs"
    result = pbxops(env, "docs", "bergmann", "no-such-customer", "--out", str(out))
    assert result.exit_code == 4 and "no-such-customer" in result.output
    assert not out.exists()


def test_an_unwritable_out_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = pbxops(env, "docs", "bergmann", "--out", str(blocker / "docs"))
    assert result.exit_code == 2 and f"cannot write {blocker}" in result.output


def test_phone_files_are_written_as_new_private_files_never_through_links(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "render"
    host_dir = out / "bergmann-pbx"
    host_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.cfg"
    elsewhere.write_text("untouched\n")
    elsewhere.chmod(0o644)
    first = pbxops(env, "phones", "render", "bergmann", "--out", str(out), "--json")
    assert first.exit_code == 0, first.output
    name = sorted(p.name for p in host_dir.iterdir())[0]
    (host_dir / name).unlink()
    (host_dir / name).symlink_to(elsewhere)
    result = pbxops(env, "phones", "render", "bergmann", "--out", str(out), "--show-secrets")
    assert result.exit_code == 0, result.output
    assert elsewhere.read_text() == "untouched\n"
    assert not (host_dir / name).is_symlink()
    assert (host_dir / name).stat().st_mode & 0o777 == 0o600


def test_secrets_shown_is_recorded_only_when_something_was_written(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert pbxops(env, "db", "upgrade").exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = pbxops(
        env, "phones", "render", "bergmann", "--out", str(blocker / "x"), "--show-secrets"
    )
    assert result.exit_code == 2, result.output
    assert _ledger_rows(env, "actions") == 0


@pytest.mark.parametrize("kind", ["directory", "missing parent under /proc"])
def test_a_key_file_that_cannot_be_a_key_is_named(
    env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    key = tmp_path / "keydir" if kind == "directory" else Path("/proc/no-such-dir/secret.key")
    if kind == "directory":
        key.mkdir()
    result = pbxops({**env, "PBXOPS_SECRET_KEY_FILE": str(key)}, "phones", "credentials", "bergmann")
    assert result.exit_code == 2 and f"secret_key_file {key}" in result.output
