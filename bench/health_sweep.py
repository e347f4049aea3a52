"""Benchmark: the health sweep on 20 and 50 real lab hosts, parallel versus the same checks
done one host after another. Needs root; brings up its own lab (run dir
/run/pbxops-lab-bench) and always takes it down. Waits for the machine-wide lab lock.

    python bench/health_sweep.py [SIZES...]        # default: 20 50
"""

from __future__ import annotations

import fcntl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator import lab
from orchestrator.fleet import Fleet, load_book
from orchestrator.health.sweep import SweepOptions, sweep
from orchestrator.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lab20 import write_book

SETTINGS = load_settings(args={"lab_run_dir": "/run/pbxops-lab-bench"})
DEMO = Path(__file__).resolve().parent.parent / "inventory" / "demo"


def book_for(specs: list[lab.HostSpec], root: Path) -> Fleet:
    """One customer with every synthetic lab host, so the sweep sees exactly the lab."""
    return load_book(write_book(specs, root))


def timed(fleet: Fleet, count: int, workers: int) -> tuple[float, int]:
    hosts = list(fleet.hosts())[:count]
    opts = SweepOptions(ssh_config=lab.LabPaths.of(SETTINGS).ssh_config, workers=workers)
    started = time.monotonic()
    result = sweep(fleet, hosts, opts)
    return time.monotonic() - started, len(result.failing)


def main(sizes: list[int]) -> None:
    with Path("/run/lock/pbxops-lab-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one lab on this machine at a time
        run(sizes)


def run(sizes: list[int]) -> None:
    specs = lab.synthetic_specs(max(sizes))
    lab.down(SETTINGS)
    try:
        lab.up(SETTINGS, specs)
        with tempfile.TemporaryDirectory() as tmp:
            fleet = book_for(specs, Path(tmp))
            timed(fleet, len(specs), 32)  # warm-up: SSH connection setup, ARP
            for size in sizes:
                par, bad_p = timed(fleet, size, 32)
                seq, bad_s = timed(fleet, size, 1)
                print(
                    f"{size:3d} hosts: parallel (32 workers) {par:5.2f}s, one after another "
                    f"{seq:6.2f}s, speed-up {seq / par:4.1f}x (failing hosts {bad_p}/{bad_s})"
                )
    finally:
        lab.down(SETTINGS)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 50])
