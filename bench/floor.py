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

from _lab20 import lab_of, measure, median, result, run_floor

ORDER = ["floor", "pbxops", "pbxops-linear"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with lab_of(args.hosts) as lb:
        run_floor(lb)  # warm-up (not measured)
        times = measure(lb, ORDER, args.rounds)
    med = {v: median(t) for v, t in times.items()}
    for v in ORDER:
        print(f"{v:13s} median {med[v]:6.2f}s  = {med[v] / med['floor']:5.1f}x the floor")
    print(f"target: pbxops within 6x of the floor: {med['pbxops'] / med['floor']:.1f}x")
    for v in ORDER:
        result("floor", hosts=args.hosts, rounds=args.rounds, variant=v,
               median_s=round(med[v], 3), x_floor=round(med[v] / med["floor"], 2))


if __name__ == "__main__":
    main()
