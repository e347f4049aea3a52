"""Benchmark: how long `lab up` takes for 20 and 50 hosts with a warm rootfs cache, and what
one host costs in memory. Needs root. Prints one line per size plus the per-host ratio.

    python bench/lab_up.py [SIZES...]        # default: 20 50
"""

from __future__ import annotations

import fcntl
import sys
import time
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator import lab
from orchestrator.lab.paths import LabPaths
from orchestrator.lab.rootfs import ensure_rootfs
from orchestrator.settings import load_settings

SETTINGS = load_settings(args={"lab_run_dir": "/run/pbxops-lab-bench"})


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(size: int) -> tuple[float, float, float, float]:
    """(seconds up, seconds down, MiB per host by cgroup, MiB per host by MemAvailable)."""
    free_before = mem_available_mb()
    started = time.monotonic()
    try:
        lab.up(SETTINGS, lab.synthetic_specs(size))
        up_s = time.monotonic() - started
        time.sleep(2)  # let boot-time transients settle before measuring
        per_host = [s.memory_mb for s in lab.lab_status(SETTINGS) if s.memory_mb]
        by_free = (free_before - mem_available_mb()) / size
    finally:
        started = time.monotonic()
        lab.down(SETTINGS)
    return up_s, time.monotonic() - started, mean(per_host) if per_host else 0.0, by_free


def main(sizes: list[int]) -> None:
    with Path("/run/lock/pbxops-lab-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one lab on this machine at a time (tests, benches)
        _main(sizes)


def _main(sizes: list[int]) -> None:
    started = time.monotonic()
    ensure_rootfs(LabPaths.of(SETTINGS).cache, lambda msg: print(f"  rootfs: {msg}"))
    print(f"rootfs cache ready in {time.monotonic() - started:.1f}s (warm if ~0)")
    for size in sizes:
        up_s, down_s, cgroup_mb, free_mb = run(size)
        print(
            f"{size:3d} hosts: up {up_s:5.1f}s ({up_s / size:.2f}s/host), down {down_s:4.1f}s, "
            f"memory/host {cgroup_mb:.1f} MiB (cgroup) {free_mb:.1f} MiB (MemAvailable drop)"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 50])
