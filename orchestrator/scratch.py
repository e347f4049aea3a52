"""Scratch copies of secrets that cannot outlive the process that made them.

Some tools need a secret as a file for a moment (Ansible copies the rendered phone files,
SIP passwords inside, from a directory on the controller). Such a directory is made by
``scratch_dir``: 0700 under ``<state_dir>/scratch``, named after its process (pid and start
time), and watched by a small *reaper* process in its own session that holds the read end
of a pipe whose write end only pbxops holds. When pbxops ends in any way — return,
exception, Ctrl-C or kill -9 — the kernel closes the pipe and the reaper removes the
directory at once. Should the reaper have been killed as well, ``sweep`` (run by every
command when it reads its settings) removes directories whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REAPER = (
    "import shutil, sys\n"
    "sys.stdin.buffer.read()\n"  # EOF: the process that made the directory has ended
    "shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
)


def scratch_root(state_dir: Path) -> Path:
    return state_dir / "scratch"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None: no such process): with
    the pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(name: str) -> bool:
    pid, _, rest = name.partition("-")
    start, _, _ = rest.partition("-")
    return pid.isdigit() and _start_time(int(pid)) == start


def sweep(state_dir: Path) -> list[Path]:
    """Remove scratch directories whose process has ended; what was removed."""
    root = scratch_root(state_dir)
    removed = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            if not _owner_alive(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextmanager
def scratch_dir(state_dir: Path, label: str) -> Iterator[Path]:
    """A private directory for secrets that is gone when this block ends or the process
    dies (see the module text)."""
    root = scratch_root(state_dir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    me = os.getpid()
    path = root / f"{me}-{_start_time(me)}-{label}-{os.urandom(4).hex()}"
    path.mkdir(mode=0o700)
    reaper = subprocess.Popen(
        [sys.executable, "-I", "-c", REAPER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # not killed with pbxops' process group (Ctrl-C, kill -9 -PGID)
    )
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if reaper.stdin is not None:
            reaper.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            reaper.wait(timeout=10)
