"""Fleet scale: load + validate + render the inventory of a 10,000-customer book.

Generates a synthetic book (10,000 customers, 100,000 phones) once into bench/.work/,
then measures in fresh child processes the wall time of each phase and the peak RSS, cold
(no parse cache: every file parsed) and warm (the parse cache of the unchanged book), each
the median of ``--rounds`` children. Targets (issues 3, 9, 17): load + validate < 5 s cold
and < 1 s warm, with the inventory render < 5 s cold; planning a wave over the loaded book
< 2 s; peak RSS < 1 GiB (the parent, and the largest parse worker on its own).

    .venv/bin/python bench/fleet_scale.py [--customers 10000] [--phones-per-customer 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VENDORS = [("yealink", "T54W"), ("snom", "D785"), ("poly", "VVX450"), ("grandstream", "GRP2614")]


def customer_yaml(i: int, phones: int) -> str:
    lines = [
        f"id: c{i:05d}",
        f"name: Customer {i}",
        "timezone: Europe/Berlin",
        "contacts:",
        f"  - {{email: it@c{i}.example}}",
        "sites:",
        f"  - {{id: main, subnet: 10.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}/32}}",
        "systems:",
        f"  - hostname: pbx-{i:05d}",
        "    site: main",
        f"    address: 10.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}",
        "    platform: asterisk",
        f"    deployment: {'virtual' if i % 3 == 0 else 'hardware'}",
        "    os_release: '12'",
        "    licences: [{kind: user, count: 10}]",
        f"    extensions: {phones}",
        "    maintenance_window: {slots: ['tue,thu 22:00-04:00']}",
        "    phones:",
    ]
    for p in range(phones):
        vendor, model = VENDORS[p % 4]
        mac = f"{i:06x}{p:06x}"
        lines.append(
            f"      - {{mac: '{mac}', vendor: {vendor}, model: {model}, extension: '{100 + p}'}}"
        )
    lines += [
        "contracts:",
        f"  - {{id: c{i}-host, kind: hosting, start: 2025-01-01}}"
        if i % 3 == 0
        else f"  - {{id: c{i}-swm, kind: software_maintenance, start: 2025-01-01, end: 2027-12-31}}",
    ]
    return "\n".join(lines) + "\n"


def generate(root: Path, customers: int, phones: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "inventory" / "demo" / "releases.yml", root / "releases.yml")
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == f"{customers}:{phones}":
        return
    cdir = root / "customers"
    cdir.mkdir(parents=True, exist_ok=True)
    for old in cdir.glob("*.yml"):
        old.unlink()
    for i in range(customers):
        (cdir / f"c{i:05d}.yml").write_text(customer_yaml(i, phones))
    marker.write_text(f"{customers}:{phones}")


def measure(root: Path) -> dict[str, float]:
    from datetime import UTC, datetime

    from orchestrator.fleet import validate_book
    from orchestrator.inventory import render_inventory
    from orchestrator.planner import plan_wave

    c0 = _cpu()
    t0 = time.perf_counter()
    fleet, issues = validate_book(root)
    t1 = time.perf_counter()
    c1 = _cpu()
    assert fleet is not None and not issues, issues[:3]
    inv = render_inventory(fleet, date(2026, 11, 25))
    text = json.dumps(inv)
    t2 = time.perf_counter()
    release = _release_for(fleet)
    plan = plan_wave(fleet, release, datetime(2026, 11, 25, 12, tzinfo=UTC))
    t3 = time.perf_counter()
    assert plan.hosts, f"{release.id} plans no host of the book: nothing measured"
    return {
        "customers": len(fleet.customers),
        "phones": sum(len(s.phones) for c in fleet.customers for s in c.systems),
        "load_validate_s": t1 - t0,
        "load_validate_cpu_s": c1 - c0,
        "inventory_s": t2 - t1,
        "total_s": t2 - t0,
        "plan_s": t3 - t2,
        "planned_hosts": len(plan.hosts),
        "release": release.id,
        "inventory_bytes": len(text),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the parse workers): what the
    load costs whatever else runs on the machine."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _release_for(fleet: Any) -> Any:
    """The first PBX release of the demo catalogue that applies to the book's (Asterisk)
    systems: the catalogue changes with the project, the book's systems do not."""
    from orchestrator.model import PbxRelease
    from orchestrator.planner import release_excludes

    ref = next(fleet.hosts())
    for release in fleet.catalog.releases:
        if isinstance(release, PbxRelease) and release_excludes(ref, release) is None:
            return release
    raise SystemExit("no PBX release in inventory/demo/releases.yml applies to asterisk systems")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--phones-per-customer", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child))))
        return
    root = REPO / "bench" / ".work" / f"book-{args.customers}"
    generate(root, args.customers, args.phones_per_customer)

    def child(cache: str) -> dict[str, float]:
        env = {**os.environ, "PBXOPS_BOOK_CACHE": cache, "XDG_CACHE_HOME": str(root / ".cache")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return dict(json.loads(out.stdout))

    def med(runs: list[dict[str, float]]) -> dict[str, float]:
        out = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        return {k: int(v) if isinstance(runs[0][k], int) else v for k, v in out.items()}

    colds, warms = [], []
    for _ in range(args.rounds):  # interleaved: the machine's load hits both alike
        colds.append(child("0"))  # cold: every file parsed
        child("1")  # fills the parse cache
        warms.append(child("1"))
    r, warm = med(colds), med(warms)
    r["warm_load_validate_s"] = warm["load_validate_s"]
    r["warm_load_validate_cpu_s"] = warm["load_validate_cpu_s"]
    r["warm_peak_rss_mib"] = warm["peak_rss_mib"]
    r["rounds"] = args.rounds
    rss = max(r["peak_rss_mib"], r["worker_peak_rss_mib"], warm["peak_rss_mib"])
    print(
        f"fleet_scale: {r['customers']:.0f} customers, {r['phones']:.0f} phones, "
        f"median of {args.rounds} fresh processes each (load {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores: a shared machine, seconds vary with what else runs)"
    )
    print(
        f"  cold load+validate {r['load_validate_s']:.2f} s (target < 5 s: "
        f"{_verdict(r['load_validate_s'], 5)}; CPU {r['load_validate_cpu_s']:.2f} s on "
        f"{min(os.cpu_count() or 1, 8)} worker(s)), + inventory render {r['inventory_s']:.2f} s "
        f"= {r['total_s']:.2f} s (< 5 s: {_verdict(r['total_s'], 5)})"
    )
    print(
        f"  warm load+validate (unchanged book, parse cache) {warm['load_validate_s']:.2f} s "
        f"(target < 1 s: {_verdict(warm['load_validate_s'], 1)}; CPU "
        f"{warm['load_validate_cpu_s']:.2f} s), "
        f"{r['load_validate_s'] / warm['load_validate_s']:.1f}x faster than cold"
    )
    print(
        f"  wave plan ({warm['release']}, pure planner) {r['plan_s']:.2f} s for {r['planned_hosts']:.0f} "
        f"hosts (target < 2 s: {_verdict(r['plan_s'], 2)})"
    )
    print(
        f"  peak RSS {r['peak_rss_mib']:.0f} MiB cold, {warm['peak_rss_mib']:.0f} MiB warm, "
        f"largest parse worker {r['worker_peak_rss_mib']:.0f} MiB (target < 1024 MiB: "
        f"{_verdict(rss, 1024)})"
    )
    r = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
    print("RESULT " + json.dumps({"bench": "fleet_scale", **r}))


def _verdict(value: float, limit: float) -> str:
    return f"{'PASS' if value < limit else 'MISS'}, {value / limit:.2f}x of budget"


if __name__ == "__main__":
    main()
