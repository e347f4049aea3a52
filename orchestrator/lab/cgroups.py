"""A cgroup per lab host.

Without systemd as the machine's PID 1, every nspawn started with ``--keep-unit`` would share
one cgroup, and the hosts' systemd instances would remove each other's unit cgroups (units
then fail with 219/CGROUP). The supervisor moves itself into the host's own cgroups before it
starts nspawn; the memory cgroup also lets the lab measure memory per host.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_HIERARCHIES = ("systemd", "memory", "unified")


def host_cgroups(machine: str) -> list[Path]:
    """Directories for this host's processes: ``pbxops-lab/<machine>`` in the named systemd
    hierarchy, the memory controller and the unified hierarchy (whichever exist; on a pure
    cgroup2 machine, the unified hierarchy is the root itself)."""
    mounts = [CGROUP_ROOT / name for name in _HIERARCHIES if (CGROUP_ROOT / name).is_dir()]
    if not mounts and (CGROUP_ROOT / "cgroup.procs").is_file():
        mounts = [CGROUP_ROOT]
    return [mount / "pbxops-lab" / machine for mount in mounts]


def create(machine: str) -> list[Path]:
    dirs = host_cgroups(machine)
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
    return dirs


def remove(dirs: list[Path]) -> None:
    """Remove the host's cgroups (and the ones its systemd made inside), deepest first."""
    for top in dirs:
        if not top.is_dir():
            continue
        for dirpath, _, _ in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        with contextlib.suppress(OSError):  # other hosts may still have theirs
            top.parent.rmdir()


def memory_bytes(dirs: list[Path]) -> int | None:
    """Memory the host uses now (cgroup v1 memory controller), if measurable."""
    for path in dirs:
        usage = path / "memory.usage_in_bytes"
        if usage.is_file():
            return int(usage.read_text())
    return None
