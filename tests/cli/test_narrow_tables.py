"""Tables stay readable at 80 columns (issue 16): short columns stay a table and never
wrap, long ones (reasons, errors, windows) are folded under their row — rich squeezed every
column instead, one word a line. Rendered on an 80-column console, and once in a real
terminal (tmux) the way an operator sees it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from orchestrator.cli import main, output
from tests.conftest import DEMO_BOOK

WIDTH = 80


@pytest.fixture
def screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.setenv("PBXOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PBXOPS_BOOK", str(DEMO_BOOK))
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)
    buf = io.StringIO()
    monkeypatch.setattr(output, "console",
                        lambda err=False: Console(file=buf, width=WIDTH, highlight=False))
    return buf


def _run(*args: str) -> str:
    out = CliRunner().invoke(main, list(args))
    assert out.exit_code == 0, out.output
    return out.output


def _words(text: str) -> str:
    return " ".join(text.split())


def _readable(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= WIDTH, text
    return lines


def _row_line(lines: list[str], *values: str) -> str:
    """The one line that holds all ``values`` of a row (none was wrapped)."""
    found = [line for line in lines if all(v in line.split() for v in values)]
    assert len(found) == 1, (values, lines)
    return found[0]


def test_fleet_entitled_at_80_columns_keeps_rows_whole_and_reasons_complete(
    screen: io.StringIO,
) -> None:
    rows = json.loads(_run("fleet", "entitled", "--on", "2026-11-25", "--json"))["systems"]
    _run("fleet", "entitled", "--on", "2026-11-25")
    lines = _readable(screen.getvalue())
    for r in rows:
        _row_line(lines, r["customer"], r["hostname"], "yes" if r["entitled"] else "NO")
        assert _words(r["reason"]) in _words(screen.getvalue())
    assert len(lines) <= 2 + 3 * len(rows)  # a row and at most two lines of its reason


def test_wave_plan_and_status_at_80_columns(screen: io.StringIO) -> None:
    plan = json.loads(_run("wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00",
                           "--json"))
    _run("wave", "plan", "--release", "pbx-18.1", "--at", "2026-11-25T12:00")
    lines = _readable(screen.getvalue())
    for batch in plan["batches"]:
        for h in batch["hosts"]:
            _row_line(lines, batch["name"], h["customer"], h["hostname"], h["contract"])
            assert f"{h['window_start'][:16]} {h['timezone']}" in screen.getvalue()
    for e in plan["excluded"]:  # this table fits boxed: the reason folds in a wide cell
        line = _row_line(lines, e["customer"], e["hostname"])
        assert " ".join(e["reason"].split()[:3]) in line
    screen.truncate(0)
    screen.seek(0)
    _run("wave", "status", str(plan["wave"]))
    lines = _readable(screen.getvalue())
    status = json.loads(_run("wave", "status", str(plan["wave"]), "--json"))[0]
    for h in status["host_rows"]:
        _row_line(lines, h["host"], h["status"])
        assert _words(h["error"]) in _words(screen.getvalue())


def test_a_table_that_fits_stays_a_boxed_table() -> None:
    buf = io.StringIO()
    output.print_table("T", ["a", "b"], [["x", "[bold]y[/bold]"]],
                       out=Console(file=buf, width=WIDTH))
    assert "┃ a" in buf.getvalue() and "[bold]y[/bold]" in buf.getvalue()  # text, not markup


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_fleet_entitled_in_a_real_80_column_terminal(tmp_path: Path) -> None:
    socket = f"pbxops-test-{os.getpid()}"
    tmux = ["tmux", "-L", socket, "-f", os.devnull]
    done = tmp_path / "done"
    pbxops = Path(sys.executable).with_name("pbxops")
    command = (f"PBXOPS_STATE_DIR={tmp_path / 'state'} PBXOPS_BOOK={DEMO_BOOK} "
               f"{pbxops} fleet entitled --on 2026-11-25; touch {done}; sleep 60")
    subprocess.run([*tmux, "new-session", "-d", "-x", str(WIDTH), "-y", "60", command],
                   check=True)
    try:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        pane = subprocess.run([*tmux, "capture-pane", "-p", "-S", "0", "-E", "59"],
                              check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    lines = _readable(pane)
    _row_line(lines, "clinic-nord", "clinic-nord-pbx", "yes")
    _row_line(lines, "eisenwerk", "eisenwerk-pbx", "NO")
    assert ("hardware PBX: software-maintenance contract eisenwerk-swm ended on 2026-06-30"
            in _words(pane))


def test_an_empty_table_prints_its_header_at_any_width() -> None:
    for width in (WIDTH, 20):
        buf = io.StringIO()
        output.print_table("Nothing here", ["customer", "reason"], [],
                           out=Console(file=buf, width=width))
        assert "customer" in buf.getvalue()
