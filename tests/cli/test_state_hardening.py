"""Issue 15: pbxops' state is the user's alone (directories 0700, files 0600), hand-over
docs do not pass book text through as Markdown/HTML, and bad wave-plan options are refused
with exit 2 before anything is written."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from orchestrator import fsutil
from orchestrator.cli import main
from orchestrator.executor import lock_down_outputs
from orchestrator.fleet import load_book
from orchestrator.ledger import Ledger
from orchestrator.reports.docs import context, markdown_escape, render
from orchestrator.settings import Settings
from tests.conftest import DEMO_BOOK, REPO

PBXOPS = [sys.executable, "-m", "orchestrator.cli"]


def _modes(top: Path) -> dict[str, str]:
    out = {".": oct(stat.S_IMODE(top.stat().st_mode))}
    for path in sorted(top.rglob("*")):
        out[str(path.relative_to(top))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return out


def _not_private(top: Path) -> dict[str, str]:
    wrong = {}
    for name, mode in _modes(top).items():
        path = top / name
        want = "0o700" if path.is_dir() else "0o600"
        if mode != want:
            wrong[name] = mode
    return wrong


@pytest.fixture
def state_env(tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBXOPS_")}
    env.update(
        PBXOPS_STATE_DIR=str(state),
        PBXOPS_BOOK=str(DEMO_BOOK),
        PBXOPS_SECRET_KEY_FILE=str(state / "secret.key"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PBXOPS, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )


def test_everything_the_cli_creates_under_the_state_dir_is_private(
    state_env: dict[str, str],
) -> None:
    os.umask(0o022)  # what a login shell has
    commands = [
        ["db", "upgrade"],
        ["secrets", "init"],
        ["wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00"],
        ["docs", "bergmann", "alpenblick"],
        ["phones", "credentials", "bergmann"],
        ["hours", "book", "bergmann", "1", "reconfigure the IVR"],
    ]
    for argv in commands:
        proc = _run(state_env, *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
    state = Path(state_env["PBXOPS_STATE_DIR"])
    assert {"ledger.sqlite", "docs/bergmann.md", "secret.key"} <= set(_modes(state))
    assert _not_private(state) == {}


def test_cli_umask_does_not_leak_into_the_calling_process(tmp_path: Path) -> None:
    before = fsutil.current_umask()
    result = CliRunner().invoke(
        main, ["--book", str(DEMO_BOOK), "fleet", "validate"], env={"PBXOPS_STATE_DIR": "x"}
    )
    assert result.exit_code == 0, result.output
    assert fsutil.current_umask() == before


def test_ledger_opened_as_a_library_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ledger = Ledger(f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}")
        ledger.engine.dispose()
    finally:
        os.umask(old)
    assert _not_private(tmp_path / "state") == {}


def test_run_artifacts_and_fetched_backups_are_locked_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = state / "runs" / "wave1-run" / "artifacts" / "run"
    fetched = state / "backups" / "wave-1" / "alpha"
    for d in (run, fetched):
        d.mkdir(parents=True, mode=0o755)
        os.chmod(d, 0o755)
    for d in (state / "runs", state / "backups"):
        os.chmod(d, 0o755)
    (run / "stdout").write_text("x")
    (fetched / "etc.tar.gz").write_text("config")
    for f in (run / "stdout", fetched / "etc.tar.gz"):
        os.chmod(f, 0o644)
    os.symlink("/etc/hostname", fetched / "link")
    settings = Settings(state_dir=state)
    outside = tmp_path / "elsewhere"
    outside.mkdir(mode=0o755)
    os.chmod(outside, 0o755)
    lock_down_outputs(
        settings,
        state / "runs" / "wave1-run",
        {"pbx_update_fetch_dir": str(state / "backups" / "wave-1"), "x_fetch_dir": str(outside)},
    )
    os.chmod(state, 0o700)  # the state dir itself is the CLI's umask's (never chmod-ed)
    assert _not_private(state) == {"backups/wave-1/alpha/link": "0o777"}
    assert oct(stat.S_IMODE(outside.stat().st_mode)) == "0o755"
    assert oct(stat.S_IMODE(Path("/etc/hostname").stat().st_mode)) != "0o600"


def test_atomic_write_follows_the_umask_not_an_old_files_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.yml"
    target.write_text("old")
    os.chmod(target, 0o644)
    old = os.umask(0o077)
    try:
        fsutil.atomic_write(target, "secret: 1\n")
    finally:
        os.umask(old)
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"


# --- hand-over docs --------------------------------------------------------------------


@pytest.fixture
def hostile_book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    shutil.copytree(DEMO_BOOK, book)
    path = book / "customers" / "bergmann.yml"
    data = yaml.safe_load(path.read_text())
    data["name"] = "<script>alert(1)</script> [click](javascript:alert(2)) **x** | y"
    data["contacts"][0]["name"] = "<img src=x onerror=alert(3)>\n# injected heading"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return book


def test_markdown_docs_escape_book_text(hostile_book: Path, tmp_path: Path) -> None:
    fleet = load_book(hostile_book)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    md, html = render(context(fleet, ledger, "bergmann", now), REPO / "templates" / "docs")
    assert "<script>" not in md and "<img" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "\\[click\\](javascript:alert(2))" in md
    assert "\\*\\*x\\*\\* \\| y" in md
    assert "\n# injected" not in md
    assert "| &lt;img src=x onerror=alert(3)&gt; # injected heading |" in md
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "(see `pbxops access --help`)" in md  # pbxops' own Markdown stays Markdown


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("Grün & Partner", "Grün & Partner"),
        ("a &amp; b", "a &amp;amp; b"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("10.210.3.10", "10.210.3.10"),
        ("`rm -rf /`", "\\`rm -rf /\\`"),
        ("line\r\nbreak", "line break"),
    ],
)
def test_markdown_escape(text: str, escaped: str) -> None:
    assert markdown_escape(text) == escaped


# --- wave plan options through the CLI -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "-2"], "--batch-size"),
        (["--canary", "-1"], "--canary"),
        (["--horizon", "-5"], "--horizon"),
        (["--horizon", "99999999999"], "--horizon"),
        (["--batch-percent", "nan"], "--batch-percent"),
        (["--batch-percent", "1e400"], "--batch-percent"),
    ],
)
def test_bad_plan_option_exits_2_naming_it_and_saves_nothing(
    state_env: dict[str, str], args: list[str], option: str
) -> None:
    proc = _run(state_env, "wave", "plan", "--release", "pbx-18.1", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {option} must be "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not Path(state_env["PBXOPS_STATE_DIR"]).exists()
