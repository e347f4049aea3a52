"""Writes inventory/demo/customers/*.yml: the demo contract book (run once; the YAML is
committed and edited by hand from then on). Kept for regenerating after a schema change."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "inventory/demo/customers")

ACTIVE = {"start": "2025-01-01", "end": "2027-12-31"}
EXPIRED = {"start": "2023-01-01", "end": "2026-06-30"}
FUTURE = {"start": "2027-01-01", "end": "2028-12-31"}
OUI = {"yealink": "805ec0", "snom": "000413", "poly": "64167f", "grandstream": "c074ad"}
MODELS = {
    "yealink": ["T54W", "T46U"],
    "snom": ["D785", "D735"],
    "poly": ["VVX450", "VVX350"],
    "grandstream": ["GRP2614", "GXP2170"],
}
NAMES = ["Anna Berg", "Ben Ortiz", "Chloé Martin", "David Kim", "Eva Novak", "Farid Haddad",
         "Greta Lind", "Hugo Weber", "Ines Costa", "Jon Park", "Kira Sato", "Lars Olsen"]


def phones(n: int, seq: int, vendors: list[str]) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        vendor = vendors[i % len(vendors)]
        model = MODELS[vendor][i % 2]
        mac = OUI[vendor] + f"{seq:02x}{i:04x}"
        out.append({"mac": ":".join(mac[k:k + 2] for k in range(0, 12, 2)).upper(),
                    "vendor": vendor, "model": model, "extension": str(100 + i),
                    "display_name": NAMES[(i + seq) % len(NAMES)]})
    return out


def system(seq: int, host: str, platform: str, deployment: str, window: list[str], *,
           os: str = "12", ext: int = 10, vendors: list[str] | None = None, n_phones: int = 3,
           hardware: list[dict[str, object]] | None = None, internal: bool = False,
           exceptions: list[str] | None = None) -> dict[str, object]:
    s: dict[str, object] = {
        "hostname": host, "site": "main", "address": f"10.210.{seq}.10",
        "platform": platform,
        # the lab's stand-in for Asterisk (orchestrator/platforms.py)
        **({"pbx_profile": "labpbx"} if platform == "asterisk" else {}),
        "deployment": deployment, "os_release": os,
        "licences": [{"kind": "user", "count": ext}, {"kind": "trunk", "count": 2}],
        "extensions": ext,
        "maintenance_window": {"slots": window, **({"exceptions": exceptions} if exceptions else {})},
    }
    if hardware:
        s["hardware"] = hardware
    if internal:
        s["internal"] = True
    s["phones"] = phones(n_phones, seq, vendors or ["yealink"])
    return s


def customer(seq: int, cid: str, name: str, tz: str, systems: list[dict[str, object]],
             contracts: list[dict[str, object]], *, lang: str = "en",
             edge: bool = False) -> dict[str, object]:
    site: dict[str, object] = {"id": "main", "name": f"{name} main site", "subnet": f"10.210.{seq}.0/24"}
    if edge:
        site["edge_router"] = {"hostname": f"{cid}-edge", "address": f"10.210.{seq}.2",
                               "device_type": "linux"}
    return {
        "id": cid, "name": name, "timezone": tz, "language": lang,
        "contacts": [{"name": "IT desk", "email": f"it@{cid}.example", "phone": "+49 30 5550100",
                      "role": "technical"}],
        "sites": [site], "systems": systems, "contracts": contracts,
    }


def c(kind: str, cid: str, period: dict[str, str], **extra: object) -> dict[str, object]:
    return {"id": cid, "kind": kind, **period, **extra}


SERVER = [{"item": "1U PBX server", "serial": "SRV-{}", "cost": 1890.0, "purchased": "2024-03-01"}]


def server(seq: int) -> list[dict[str, object]]:
    return [{**SERVER[0], "serial": f"SRV-{seq:04d}"}]


BOOK = [
    customer(1, "provider-lab", "Provider test PBX", "Europe/Berlin",
             [system(1, "lab-pbx", "asterisk", "virtual", ["mon-sun 00:00-24:00"], internal=True,
                     vendors=["yealink", "snom", "poly", "grandstream"], n_phones=4)],
             [c("hosting", "provider-lab-host", {"start": "2024-01-01"})]),
    customer(2, "alpenblick", "Hotel Alpenblick", "Europe/Vienna",
             [system(2, "alpenblick-pbx", "asterisk", "virtual", ["mon-fri 22:00-05:00", "sat-sun 01:00-06:00"],
                     ext=40, vendors=["snom"], n_phones=4)],
             [c("hosting", "alpenblick-host", ACTIVE)], lang="de"),
    customer(3, "bergmann", "Bergmann Steuerberatung", "Europe/Berlin",
             [system(3, "bergmann-pbx", "asterisk", "virtual", ["tue,thu 20:00-23:00"], ext=8,
                     vendors=["yealink"])],
             [c("hosting", "bergmann-host", ACTIVE),
              c("sla", "bergmann-sla", ACTIVE, tier="silver", reaction_hours=8, hours_basis="business",
                channels=["email", "phone"]),
              c("hour_package", "bergmann-hours-2026", {"start": "2026-01-01", "end": "2026-12-31"}, hours=10)],
             lang="de"),
    customer(4, "clinic-nord", "Klinik Nord", "Europe/Berlin",
             [system(4, "clinic-nord-pbx", "asterisk", "hardware", ["sun 02:00-05:00"], ext=120,
                     vendors=["poly", "yealink"], n_phones=6, hardware=server(4),
                     exceptions=["2026-12-27"])],
             [c("software_maintenance", "clinic-nord-swm", ACTIVE, call_drain_minutes=45),
              c("sla", "clinic-nord-sla", ACTIVE, tier="platinum", reaction_hours=4, hours_basis="24x7",
                channels=["email", "phone", "ticket"]),
              c("hardware_maintenance", "clinic-nord-hwm", ACTIVE),
              c("hour_package", "clinic-nord-hours", {"start": "2026-01-01", "end": "2026-12-31"}, hours=40)],
             lang="de", edge=True),
    customer(5, "dockside", "Dockside Logistics", "Europe/London",
             [system(5, "dockside-pbx", "asterisk", "hardware", ["mon-fri 23:00-04:00"], ext=30,
                     vendors=["grandstream"], n_phones=4, hardware=server(5))],
             [c("software_maintenance", "dockside-swm", ACTIVE),
              c("sla", "dockside-sla", ACTIVE, tier="gold", reaction_hours=4, channels=["email", "ticket"]),
              c("hardware_maintenance", "dockside-hwm", ACTIVE)],
             edge=True),
    customer(6, "eisenwerk", "Eisenwerk Huber", "Europe/Berlin",
             [system(6, "eisenwerk-pbx", "asterisk", "hardware", ["sat 18:00-23:59"], ext=25,
                     vendors=["snom", "yealink"], hardware=server(6))],
             [c("software_maintenance", "eisenwerk-swm", EXPIRED)], lang="de"),
    customer(7, "fjord", "Fjord Design", "Europe/Oslo",
             [system(7, "fjord-pbx", "asterisk", "hardware", ["wed 21:00-23:00"], ext=12,
                     vendors=["yealink"], hardware=server(7))],
             []),
    customer(8, "gruen", "Grün & Partner", "Europe/Zurich",
             [system(8, "gruen-pbx", "asterisk", "hardware", ["mon-fri 19:00-22:00"], ext=18,
                     vendors=["grandstream", "poly"], hardware=server(8))],
             [c("software_maintenance", "gruen-swm", FUTURE),
              c("hour_package", "gruen-hours", {"start": "2026-07-01", "end": "2027-06-30"}, hours=5)],
             lang="de"),
    customer(9, "harbor", "Harbor Dental", "America/New_York",
             [system(9, "harbor-pbx", "asterisk", "hardware", ["mon-sun 01:00-04:00"], ext=15,
                     vendors=["poly"], hardware=server(9))],
             [c("software_maintenance", "harbor-swm", ACTIVE),
              c("sla", "harbor-sla", ACTIVE, tier="bronze", reaction_hours=24, hours_basis="business")]),
    customer(10, "isar", "Isar Versicherungsmakler", "Europe/Berlin",
             [system(10, "isar-pbx", "freepbx", "hardware", ["fri 20:00-23:00"], ext=22,
                     vendors=["yealink"], hardware=server(10))],
             [c("software_maintenance", "isar-swm", ACTIVE)], lang="de"),
    customer(11, "jade", "Jade Trading", "Asia/Tokyo",
             [system(11, "jade-pbx", "3cx", "virtual", ["sat-sun 00:00-06:00"], ext=16,
                     vendors=["yealink", "snom"])],
             [c("hosting", "jade-host", ACTIVE)]),
    customer(12, "kanzlei-roth", "Kanzlei Roth", "Europe/Berlin",
             [system(12, "roth-pbx", "asterisk", "hardware", ["mon-thu 21:00-23:30"], ext=9,
                     vendors=["snom"], hardware=server(12), os="11")],
             [c("software_maintenance", "roth-swm", ACTIVE)], lang="de"),
    customer(13, "lumen", "Lumen Studios", "Europe/Berlin",
             [system(13, "lumen-pbx", "asterisk", "virtual", ["mon-sun 03:00-05:00"], ext=20,
                     vendors=["grandstream", "yealink"])],
             [c("hosting", "lumen-host", EXPIRED)]),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for cust in BOOK:
        text = yaml.safe_dump(cust, sort_keys=False, allow_unicode=True, width=100)
        (OUT / f"{cust['id']}.yml").write_text(f"---\n# Contract book entry of {cust['name']}.\n{text}")


if __name__ == "__main__":
    main()
