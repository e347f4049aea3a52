"""Benchmark: pbxops' shipped Ansible defaults versus plain Ansible defaults (target >= 3x),
and with the linear strategy instead of the shipped Mitogen, on the same "facts + 6 tasks" job (bench/playbooks/read_state.yml)
over a 20-host synthetic lab. Variants run interleaved, repeated; medians and ratios.

- ansible-defaults: no ansible.cfg (ANSIBLE_CONFIG = an empty file): forks 5, no
  pipelining, no ControlPersist (ssh_args is just ``-F <lab ssh_config>``), facts gathered;
- ansible-defaults+cp: the same, but Ansible's own default ssh_args (ControlPersist=60s) kept;
- pbxops: ansible.cfg + the executor's environment (forks 20, pipelining, ControlPersist,
  gathering explicit: the job's facts are not gathered; strategy mitogen_linear);
- pbxops+facts: as pbxops, gathering facts;
- pbxops-linear: as pbxops with the linear strategy (what runs without Mitogen).

Every variant connects through the lab's ssh_config (host keys verified against its
known_hosts) and starts with no SSH master connection.

    python bench/defaults_speedup.py [--hosts 20] [--rounds 3]
"""

from __future__ import annotations

import argparse

from _lab20 import VARIANTS, lab_of, measure, median, result, run_job

ORDER = ["ansible-defaults", "ansible-defaults+cp", "pbxops", "pbxops+facts", "pbxops-linear"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with lab_of(args.hosts) as lb:
        run_job(lb, "pbxops")  # warm-up: the controller's caches, ARP (not measured)
        times = measure(lb, ORDER, args.rounds)
    med = {v: median(t) for v, t in times.items()}
    base = med["ansible-defaults"]
    for v in ORDER:
        print(f"{v:20s} median {med[v]:6.2f}s  speed-up vs ansible-defaults {base / med[v]:5.2f}x"
              f"  ({VARIANTS[v]})")
    print(f"target: pbxops >= 3x faster than ansible-defaults: {base / med['pbxops']:.2f}x")
    for v in ORDER:
        result("defaults_speedup", hosts=args.hosts, rounds=args.rounds, variant=v,
               median_s=round(med[v], 2), speedup=round(base / med[v], 2))


if __name__ == "__main__":
    main()
