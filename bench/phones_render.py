"""Phone rendering throughput: render the configuration files of 100,000 phones.

Builds a synthetic fleet in memory (1,000 customers x 100 phones, the four vendors mixed,
time zones and languages varied), then renders every PBX's files with the production
renderer (sandboxed Jinja2, StrictUndefined, autoescape, XML parsed back) exactly as a
publish does, minus credential decryption and I/O. Prints phones per second and the
process's peak RSS. Target (issue 7): >= 5,000 phones/s.

    .venv/bin/python bench/phones_render.py [--phones 100000] [--per-system 100]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.model import Catalog, Customer  # noqa: E402
from orchestrator.phones.render import Credential, Endpoint, Renderer  # noqa: E402
from orchestrator.secrets import Redacted  # noqa: E402

TARGET = 5000.0
MODELS = [("yealink", "T54W", "805ec0"), ("snom", "D785", "000413"),
          ("poly", "VVX450", "64167f"), ("grandstream", "GRP2614", "c074ad")]
ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Zurich"]
LANGS = ["de", "en", "fr", "it"]


def catalog() -> Catalog:
    return Catalog.model_validate({"firmware": [
        {"vendor": v, "model": m, "version": "1.0.0", "url": f"http://fw.example/{v}/{m}.bin"}
        for v, m, _ in MODELS
    ]})


def customer(i: int, per_system: int) -> Customer:
    phones = []
    for p in range(per_system):
        vendor, model, oui = MODELS[p % len(MODELS)]
        n = i * per_system + p
        phones.append({"mac": f"{oui}{n:06x}", "vendor": vendor, "model": model,
                       "extension": str(100 + p), "display_name": f"User {p} & Co <{i}>"})
    net = f"10.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}"
    return Customer.model_validate({
        "id": f"c{i:05d}", "name": f"Customer {i}", "timezone": ZONES[i % len(ZONES)],
        "language": LANGS[i % len(LANGS)], "contacts": [{"email": f"it@c{i}.example"}],
        "sites": [{"id": "main", "subnet": f"{net}/32"}],
        "systems": [{"hostname": f"pbx-{i:05d}", "site": "main", "address": net,
                     "platform": "asterisk", "deployment": "hardware", "os_release": "12",
                     "extensions": per_system,
                     "maintenance_window": {"slots": ["tue 22:00-04:00"]}, "phones": phones}],
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=100_000)
    parser.add_argument("--per-system", type=int, default=100)
    args = parser.parse_args()
    systems = max(1, args.phones // args.per_system)

    t0 = time.perf_counter()
    customers = [customer(i, args.per_system) for i in range(systems)]
    cat = catalog()
    renderer = Renderer()
    build = time.perf_counter() - t0

    phones = files = size = 0
    t1 = time.perf_counter()
    for c in customers:
        system = c.systems[0]
        creds = {p.extension: Credential(p.extension, Redacted(f"pw{p.extension}x" * 2))
                 for p in system.phones}
        endpoint = Endpoint(str(system.address), f"http://{system.address}/", "http://10.250.0.10/")
        rendered = renderer.system_files(c, system, cat, creds, endpoint)
        phones += len(system.phones)
        files += len(rendered.files)
        size += sum(len(f.content) for f in rendered.files)
    elapsed = time.perf_counter() - t1

    rate = phones / elapsed
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"synthetic fleet: {systems} PBXs, {phones} phones (built in {build:.1f} s)")
    print(f"rendered {files} files, {size / 1e6:.1f} MB, in {elapsed:.2f} s")
    print(f"phones/s: {rate:,.0f} (target >= {TARGET:,.0f}: {'PASS' if rate >= TARGET else 'FAIL'})")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
