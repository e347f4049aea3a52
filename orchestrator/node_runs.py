"""What pbxops runs on an execution node to find and clear what earlier runs of a wave left
there: by the pids those runs recorded, never by a process name or command-line pattern.

Not imported by pbxops: ``executor`` sends this file's text to ``python3 -c`` on the node,
under the same wrapper as the worker (``sudo -n`` ...), so it uses only the standard
library and runs with whatever python3 the node has (as shim/ansible-playbook does).

A run on a node lives in ``<work>/pbxops-<ident>-<node>``, ansible-runner worker's private
data dir. Before the playbook starts, pbxops' shim (shim/ansible-playbook) writes
``pbxops.pids`` there: one line ``<role> <pid> <start time>`` for the playbook itself
(``playbook``) and for each of its ancestors whose command line names the run's directory
(``parent``: the shell ansible-runner started under ssh-agent, the worker, the sudo that
started it). A recorded pid counts as the run's only while the process has the recorded
start time (field 22 of /proc/PID/stat, clock ticks since boot) and its command line still
names the directory: a pid the kernel gave to another process since is never touched.

A worker killed before its playbook started leaves no pid file but may leave ssh-add
blocked on the key's fifo (artifacts/<ident>/ssh_key_data) for a writer that is gone;
``clear`` opens that fifo for writing and closes it, so ssh-add reads an empty key and
fails, its shell ends and ssh-agent notices its parent's end (within 10 s) and exits.

    python3 -c "$(cat node_runs.py)" list  WORK MARKER
        prints the pids of recorded playbooks still running, one a line
    python3 -c "$(cat node_runs.py)" clear WORK MARKER
        SIGKILLs the recorded processes still running, releases a waiting ssh-add,
        deletes the directories

where the run directories are ``WORK/MARKER*`` (MARKER: ``pbxops-<ident prefix>``).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import signal
import stat
import sys

PID_FILE = "pbxops.pids"


def start_time(pid: int) -> int:
    """The process's start time (clock ticks since boot); OSError when it is gone."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        data = fh.read()
    return int(data[data.rindex(b")") + 2:].split()[19])


def names_dir(pid: int, run_dir: str) -> bool:
    """Whether the process's command line names ``run_dir`` (or a path below it)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return False
    d = run_dir.encode()
    return any(a == d or a.endswith(b"=" + d) or d + b"/" in a for a in args)


def recorded(run_dir: str) -> list[tuple[str, int, int]]:
    """``(role, pid, start time)`` of the run's pid file (none when there is no file)."""
    try:
        with open(os.path.join(run_dir, PID_FILE), encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        words = line.split()
        if len(words) == 3 and words[1].isdigit() and words[2].isdigit():
            out.append((words[0], int(words[1]), int(words[2])))
    return out


def running(run_dir: str, pid: int, start: int) -> bool:
    """The recorded process still runs: same start time, command line naming the run."""
    try:
        same = start_time(pid) == start
    except (OSError, ValueError, IndexError):
        return False
    return same and names_dir(pid, run_dir)


def run_dirs(work: str, marker: str) -> list[str]:
    found = glob.glob(os.path.join(work, glob.escape(marker) + "*"))
    return sorted(d for d in found if os.path.isdir(d) and not os.path.islink(d))


def release_key_fifos(run_dir: str) -> None:
    """Give an ssh-add waiting on the run's key fifo an end of file (see the module doc)."""
    for path in glob.glob(os.path.join(glob.escape(run_dir), "artifacts", "*", "ssh_key_data")):
        try:
            if not stat.S_ISFIFO(os.lstat(path).st_mode):
                continue
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno not in (errno.ENXIO, errno.ENOENT):  # ENXIO: nobody waits on it
                raise
            continue
        os.close(fd)


def list_playbooks(work: str, marker: str) -> None:
    for run_dir in run_dirs(work, marker):
        for role, pid, start in recorded(run_dir):
            if role == "playbook" and running(run_dir, pid, start):
                print(pid)


def clear(work: str, marker: str) -> None:
    for run_dir in run_dirs(work, marker):
        for _role, pid, start in recorded(run_dir):
            if running(run_dir, pid, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        release_key_fifos(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("list", "clear") or not argv[2].startswith("pbxops-"):
        sys.stderr.write("usage: list|clear WORK_DIR pbxops-<ident prefix>\n")
        return 2
    action, work, marker = argv
    (list_playbooks if action == "list" else clear)(work, marker)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
