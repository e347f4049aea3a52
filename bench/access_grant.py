"""Benchmark (not a test): time to onboard 1, 10 and 50 customers' remote access in the lab.

Each customer is one synthetic lab host (``lab-NN``) with an SLA; a grant is the real
thing (WireGuard key made on the host, host certificate, CA trust, sshd hardening, hub
peer). Prints seconds per batch and per customer. Needs root and a free lab (it brings up
its own with ``--max`` hosts and tears it down). Usage::

    python bench/access_grant.py            # 1, 10, 50
    python bench/access_grant.py --sizes 1,10
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator import lab, secrets_setup  # noqa: E402
from orchestrator.access import hub, service  # noqa: E402
from orchestrator.settings import load_settings  # noqa: E402
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER  # noqa: E402

DEBS = Path("/var/cache/pbxops-lab/debs")
RUN_DIR = "/run/pbxops-lab-bench"


def customer(i: int, spec: lab.HostSpec) -> dict[str, object]:
    c = yaml.safe_load(yaml.safe_dump(VALID_CUSTOMER))
    c["id"], c["name"] = f"bench-{i:02d}", f"Bench {i}"
    c["sites"] = [{"id": "hq", "subnet": f"{spec.address}/32"}]
    c["systems"][0].update(hostname=spec.name, address=str(spec.address), site="hq", phones=[],
                           pbx_profile="labpbx")
    c["contracts"] = [
        {**k, "id": f"bench-{i:02d}-{k['kind']}", "start": "2025-01-01", "end": "2035-12-31"}
        for k in c["contracts"]
    ]
    return c


def main() -> None:
    with Path("/run/lock/pbxops-lab-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one lab on this machine at a time (tests, benches)
        _main()


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--parallel", type=int, default=4, help="customers granted at once")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    specs = lab.synthetic_specs(sum(sizes))
    work = Path(tempfile.mkdtemp(prefix="pbxops-bench-access-"))
    book = work / "book"
    (book / "customers").mkdir(parents=True)
    for name in ("technicians.yml",):  # the rest of the book is not needed here
        shutil.copy(DEMO_BOOK / name, book / name)
    for i, spec in enumerate(specs):
        c = customer(i + 1, spec)
        (book / "customers" / f"{c['id']}.yml").write_text(yaml.safe_dump(c, sort_keys=False))
    if not any(DEBS.glob("wireguard-go_*.deb")):
        DEBS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "wireguard-tools", "wireguard-go"], cwd=DEBS, check=True
        )
    settings = load_settings(
        args={
            "lab_run_dir": RUN_DIR,
            "book": str(book),
            "state_dir": str(work / "state"),
            "secret_key_file": str(work / "secret.key"),
            "vpn_debs_dir": str(DEBS),
        },
        env={},
    )
    secrets_setup.init_key(settings)  # what `pbxops secrets init` does
    t0 = time.monotonic()
    lab.up(settings, specs)
    settings = settings.model_copy(update={"ssh_config": lab.LabPaths.of(settings).ssh_config})
    print(f"lab up with {len(specs)} hosts: {time.monotonic() - t0:.1f}s")
    try:
        start = 0
        for size in sizes:
            ids = [f"bench-{i + 1:02d}" for i in range(start, start + size)]
            start += size
            t = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                list(pool.map(lambda cid: service.grant(settings, cid, "bench"), ids))
            took = time.monotonic() - t
            print(
                f"grant {size:>3} customers: {took:7.1f}s  ({took / size:5.1f}s per customer, {args.parallel} at once)"
            )
        t = time.monotonic()
        service.grant(settings, "bench-01", "bench")
        print(f"repeat grant (no change):  {time.monotonic() - t:7.1f}s")
    finally:
        hub.stop(settings.vpn_hub_interface)
        lab.down(settings)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
