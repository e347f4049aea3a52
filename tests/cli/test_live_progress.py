"""The live task line of `wave run` in a real 80-column terminal (tmux): it is overwritten
in place, and no line printed after it keeps a remnant of it (issue 16: a host line shorter
than the task name before it left the name's tail on the screen)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

WIDTH = 80
LONG = "Wait until the PBX answers SIP OPTIONS again after the restart (xyzzy)"
SHORT = "Drain calls"

SCRIPT = f"""
from orchestrator.cli.wave import _Progress
from orchestrator.waves import events as ev
p = _Progress(False)
at = "2026-11-27T10:00:00+00:00"
p(ev.BatchStarted(at, "canary", ("lab-pbx",)))
p(ev.TaskSeen(at, "lab-pbx", {LONG!r}, "playbook_on_task_start"))
p(ev.TaskSeen(at, "lab-pbx", {SHORT!r}, "playbook_on_task_start"))
p(ev.TaskSeen(at, "lab-pbx", {LONG!r}, "playbook_on_task_start"))
p(ev.HostChanged(at, "lab-pbx", "done", "18.0.0 -> 18.1.0"))
p(ev.TaskSeen(at, "lab-pbx", "[bold]not markup[/bold] {LONG}", "playbook_on_task_start"))
p.erase_live()
print("END")
"""


def _pane(tmp_path: Path, script: Path) -> str:
    socket = f"pbxops-live-{os.getpid()}"
    tmux = ["tmux", "-L", socket, "-f", os.devnull]
    done = tmp_path / "done"
    command = f"{sys.executable} {script}; touch {done}; sleep 60"
    subprocess.run([*tmux, "new-session", "-d", "-x", str(WIDTH), "-y", "20", command],
                   check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        return subprocess.run([*tmux, "capture-pane", "-p", "-S", "0", "-E", "19"],
                              check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (scripts/setup.sh)")
def test_the_live_line_leaves_no_remnant_in_a_real_terminal(tmp_path: Path) -> None:
    script = tmp_path / "progress.py"
    script.write_text(SCRIPT)
    pane = _pane(tmp_path, script)
    lines = [ln.rstrip() for ln in pane.splitlines() if ln.strip()]
    assert lines[0] == "canary: lab-pbx", pane
    host = lines[1]
    assert host.split() == ["done", "lab-pbx", "18.0.0", "->", "18.1.0", "(1", "done,", "0",
                            "failed)"], pane
    assert lines[2:] == ["END"], pane
    assert "xyzzy" not in pane and "OPTIONS" not in pane, "a task name was left on screen"
