"""Benchmark: the same playbook run on N lab hosts from the controller (local) and spread
over 1, 2 and 3 execution nodes (ansible-runner transmit -> worker over ssh -> process),
side by side in one run. The playbook is ``pbx_check.yml`` (the read-only state check a
wave resume runs), so every round sees the same hosts in the same state.

Honest reading: the lab's nodes are containers on this same machine, sharing its CPUs with
the controller and the target hosts, so spreading the work cannot add compute here; what it
shows is the protocol's overhead (ssh, shipping the private data dir, the worker's start)
against any parallelism gained. Needs root; brings up its own lab (run dir
/run/pbxops-lab-bench) and always takes it down. Waits for the machine-wide lab lock.

    python bench/nodes_scaling.py [HOSTS] [ROUNDS]        # default: 12 hosts, 2 rounds
"""

from __future__ import annotations

import fcntl
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from ipaddress import IPv4Network
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator import executor, lab
from orchestrator.fleet import Fleet, load_book
from orchestrator.inventory import render_inventory
from orchestrator.settings import Settings, load_settings

RUN_DIR = "/run/pbxops-lab-bench"
DEMO = Path(__file__).resolve().parent.parent / "inventory" / "demo"
SUBNET = IPv4Network("10.210.0.0/24")  # synthetic hosts start here; nodes join them (no routing)
NODES = ("node-1", "node-2", "node-3")


def book_for(specs: list[lab.HostSpec], root: Path) -> Fleet:
    (root / "customers").mkdir(parents=True, exist_ok=True)
    customer = {
        "id": "bench", "name": "Bench", "timezone": "Europe/Berlin",
        "contacts": [{"email": "it@bench.example"}],
        "sites": [{"id": "s0", "subnet": str(SUBNET)}],
        "systems": [
            {"hostname": spec.name, "site": "s0", "address": str(spec.address),
             "platform": "asterisk", "pbx_profile": "labpbx", "deployment": "hardware",
             "os_release": "12",
             "extensions": 5, "maintenance_window": ["mon-sun 00:00-24:00"]}
            for spec in specs
        ],
    }
    (root / "customers" / "bench.yml").write_text(yaml.safe_dump(customer))
    (root / "releases.yml").write_text((DEMO / "releases.yml").read_text())
    return load_book(root)


def timed(settings: Settings, fleet: Fleet, nodes: tuple[str, ...]) -> tuple[float, int]:
    s = settings.model_copy(update={"execution_nodes": nodes})
    hosts = [h.system.hostname for h in fleet.hosts()]
    inventory = render_inventory(fleet, date.today())
    started = time.monotonic()
    result = executor.run_playbook(s, "pbx_check.yml", inventory, hosts, distribute=True)
    elapsed = time.monotonic() - started
    healthy = sum(1 for h in hosts if result.hosts[h].facts.get("service") == "active")
    return elapsed, healthy


def main(count: int, rounds: int) -> None:
    with Path("/run/lock/pbxops-lab-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one lab on this machine at a time
        run(count, rounds)


def run(count: int, rounds: int) -> None:
    base = load_settings(args={"lab_run_dir": RUN_DIR})
    specs = lab.synthetic_specs(count)
    if any(spec.subnet != SUBNET for spec in specs):
        raise SystemExit("at most 200 hosts: nodes must share the hosts' /24")
    lab.down(base)
    try:
        lab.up(base, specs + lab.execution_node_specs(len(NODES), SUBNET))
        with tempfile.TemporaryDirectory() as tmp:
            fleet = book_for(specs, Path(tmp) / "book")
            settings = base.model_copy(update={
                "book": Path(tmp) / "book", "state_dir": Path(tmp) / "state",
                "ssh_config": lab.LabPaths.of(base).ssh_config,
                "execution_node_command": lab.execution_node_command(),
            })
            configs: list[tuple[str, tuple[str, ...]]] = [("local", ())] + [
                (f"{k} node{'s' if k > 1 else ''}", NODES[:k]) for k in (1, 2, 3)
            ]
            times: dict[str, list[float]] = {name: [] for name, _ in configs}
            for _name, nodes in configs:  # warm-up: ssh masters, ARP, page cache
                timed(settings, fleet, nodes)
            for _ in range(rounds):
                for name, nodes in configs:
                    elapsed, healthy = timed(settings, fleet, nodes)
                    if healthy != count:
                        raise SystemExit(f"{name}: only {healthy}/{count} hosts reported healthy")
                    times[name].append(elapsed)
    finally:
        lab.down(base)
    local = statistics.median(times["local"])
    cpus = os.cpu_count()
    print(f"pbx_check.yml on {count} lab hosts, median of {rounds} rounds, {cpus} CPUs shared "
          "by controller, nodes and targets:")
    for name, nodes in configs:
        med = statistics.median(times[name])
        print(f"  {name:8s} {med:6.2f}s  ({local / med:4.2f}x local)  rounds: "
              + ", ".join(f"{t:.2f}" for t in times[name]))
        print("RESULT " + json.dumps({
            "bench": "nodes_scaling", "hosts": count, "nodes": len(nodes), "config": name,
            "seconds": round(med, 3), "speedup_vs_local": round(local / med, 3), "cpus": cpus,
        }))
    print("Nodes here are containers on the same machine: no extra CPU, so any gain is "
          "parallelism only; on separate machines the per-node work would not compete.")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else 12, args[1] if len(args) > 1 else 2)
