"""Fleet scale: load + validate + render the inventory of a 10,000-customer book.

Generates a synthetic book (10,000 customers, 100,000 phones) once into bench/.work/,
then measures in a fresh child process the wall time of each phase and the peak RSS.
Targets: load+validate+inventory under 5 s and 1 GiB (issue 3); planning a wave
over the loaded book under 2 s (issue 9).

    .venv/bin/python bench/fleet_scale.py [--customers 10000] [--phones-per-customer 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

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
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == f"{customers}:{phones}":
        return
    cdir = root / "customers"
    cdir.mkdir(parents=True, exist_ok=True)
    for old in cdir.glob("*.yml"):
        old.unlink()
    for i in range(customers):
        (cdir / f"c{i:05d}.yml").write_text(customer_yaml(i, phones))
    shutil.copy(REPO / "inventory" / "demo" / "releases.yml", root / "releases.yml")
    marker.write_text(f"{customers}:{phones}")


def measure(root: Path) -> dict[str, float]:
    from datetime import UTC, datetime

    from orchestrator.fleet import validate_book
    from orchestrator.inventory import render_inventory
    from orchestrator.planner import plan_wave

    t0 = time.perf_counter()
    fleet, issues = validate_book(root)
    t1 = time.perf_counter()
    assert fleet is not None and not issues, issues[:3]
    inv = render_inventory(fleet, date(2026, 11, 25))
    text = json.dumps(inv)
    t2 = time.perf_counter()
    release = fleet.catalog.release("pbx-18.1")
    assert release is not None
    plan = plan_wave(fleet, release, datetime(2026, 11, 25, 12, tzinfo=UTC))
    t3 = time.perf_counter()
    return {
        "customers": len(fleet.customers),
        "phones": sum(len(s.phones) for c in fleet.customers for s in c.systems),
        "load_validate_s": t1 - t0,
        "inventory_s": t2 - t1,
        "total_s": t2 - t0,
        "plan_s": t3 - t2,
        "planned_hosts": len(plan.hosts),
        "inventory_bytes": len(text),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--phones-per-customer", type=int, default=10)
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

    r = child("0")  # cold: every file parsed
    child("1")  # fills the parse cache
    warm = child("1")
    r["warm_load_validate_s"] = warm["load_validate_s"]
    print(f"fleet_scale: {r['customers']} customers, {r['phones']} phones")
    print(
        f"  cold load+validate {r['load_validate_s']:.2f} s, inventory render {r['inventory_s']:.2f} s, "
        f"total {r['total_s']:.2f} s (target < 5 s: {r['total_s'] / 5:.2f}x of budget)"
    )
    print(
        f"  warm load+validate (unchanged book, parse cache) {warm['load_validate_s']:.2f} s, "
        f"{r['load_validate_s'] / warm['load_validate_s']:.1f}x faster than cold"
    )
    print(
        f"  wave plan (pbx-18.1, pure planner) {r['plan_s']:.2f} s for {r['planned_hosts']} hosts "
        f"(target < 2 s: {r['plan_s'] / 2:.2f}x of budget)"
    )
    print(f"  peak RSS {r['peak_rss_mib']:.0f} MiB (target < 1024 MiB)")
    print("RESULT " + json.dumps({"bench": "fleet_scale", **r}))


if __name__ == "__main__":
    main()
