"""Benchmark: pbxops' Ansible run versus the floor, one raw ``ssh host 'cmd'`` per host, all
hosts at once (target: within 6x). The work is the job of bench/playbooks/read_state.yml
(6 tasks as root, facts not gathered under pbxops' defaults: Mitogen strategy; also
measured with the linear strategy, what runs without Mitogen); the floor runs the same six
commands in one ``sudo sh -c`` per host. 20-host synthetic lab, interleaved, repeated.

Both go through the lab's ssh_config (host keys verified); the floor without connection
sharing, Ansible cold (no SSH master connection left from an earlier measurement).

    python bench/floor.py [--hosts 20] [--rounds 5]
"""

from __future__ import annotations

import argparse

from _lab20 import (
    BIN,
    REPO,
    Lab,
    cold_ssh,
    job_env,
    lab_of,
    measure,
    median,
    result,
    run_checked,
    run_floor,
    timed,
)

ORDER = ["floor", "pbxops", "pbxops-linear"]
# Where the pbxops job's seconds go: the same play with one ping and no work, with and
# without become (Mitogen builds an interpreter context per host, and a second one under sudo).
BREAKDOWN = {"connect": "connect.yml", "connect-no-become": "connect_user.yml"}


def run_play(lb: Lab, playbook: str) -> float:
    """Seconds for one bench playbook on every lab host, shipped defaults, cold SSH."""
    with cold_ssh(lb.work, playbook) as cp:
        env, extra = job_env(lb, "pbxops", cp)
        argv = [str(BIN / "ansible-playbook"), "-i", str(lb.inventory), *extra,
                str(REPO / "bench" / "playbooks" / playbook)]
        return timed(lambda: run_checked(argv, env, playbook))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with lab_of(args.hosts) as lb:
        run_floor(lb)  # warm-up (not measured)
        times = measure(lb, ORDER, args.rounds)
        parts = {k: median([run_play(lb, pb) for _ in range(3)]) for k, pb in BREAKDOWN.items()}
    med = {v: median(t) for v, t in times.items()}
    for v in ORDER:
        print(f"{v:13s} median {med[v]:6.2f}s  = {med[v] / med['floor']:5.1f}x the floor")
    print(f"target: pbxops within 6x of the floor: {med['pbxops'] / med['floor']:.1f}x")
    job = med["pbxops"]
    print(f"breakdown (median of 3, shipped defaults): connecting only {parts['connect']:.2f}s "
          f"({parts['connect'] / job:.0%} of the job; without become "
          f"{parts['connect-no-become']:.2f}s), the six tasks {job - parts['connect']:.2f}s")
    for v in ORDER:
        result("floor", hosts=args.hosts, rounds=args.rounds, variant=v,
               median_s=round(med[v], 3), x_floor=round(med[v] / med["floor"], 2))
    for k in BREAKDOWN:
        result("floor", hosts=args.hosts, rounds=3, variant=k, median_s=round(parts[k], 3),
               x_floor=round(parts[k] / med["floor"], 2))


if __name__ == "__main__":
    main()
