"""A customer with one phone of every vendor, for the phone tests (not the demo book,
so the goldens only change when the templates do)."""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.model import Catalog, Customer
from orchestrator.phones.render import Credential, Endpoint
from orchestrator.secrets import Redacted

PLANTED_SECRET_PREFIX = "PLANTEDsecret"

CUSTOMER: dict[str, Any] = {
    "id": "acme",
    "name": "ACME & Söhne <GmbH>",
    "timezone": "Europe/Berlin",
    "language": "de",
    "ntp_server": "ntp.acme.example",
    "contacts": [{"name": "IT", "email": "it@acme.example"}],
    "sites": [{"id": "hq", "subnet": "10.60.1.0/24"}],
    "systems": [
        {
            "hostname": "acme-pbx",
            "site": "hq",
            "address": "10.60.1.10",
            "platform": "asterisk",
            "deployment": "hardware",
            "os_release": "12",
            "extensions": 10,
            "maintenance_window": {"slots": ["tue,thu 22:00-04:00"]},
            "phones": [
                {"mac": "80:5E:C0:00:00:01", "vendor": "yealink", "model": "T54W",
                 "extension": "101", "display_name": "Anna Öztürk"},
                {"mac": "00:04:13:00:00:AB", "vendor": "snom", "model": "D785",
                 "extension": "102", "display_name": "Ben \"B&B\" <Bauer>"},
                {"mac": "64:16:7F:00:00:03", "vendor": "poly", "model": "VVX450",
                 "extension": "103", "display_name": "Carla d'Amico", "language": "it"},
                {"mac": "C0:74:AD:00:00:04", "vendor": "grandstream", "model": "GRP2614",
                 "extension": "104", "display_name": "Dieter & Co"},
            ],
        }
    ],
    "contracts": [
        {"id": "acme-sla", "kind": "sla", "tier": "gold", "reaction_hours": 4,
         "start": "2026-01-01", "end": "2026-12-31"},
        {"id": "acme-hwm", "kind": "hardware_maintenance", "start": "2026-01-01",
         "end": "2026-12-31"},
    ],
}

CATALOG = Catalog.model_validate(
    {
        "firmware": [
            {"vendor": "yealink", "model": "T54W", "version": "96.86.0.70",
             "url": "http://fw.example/yealink/T54W-96.86.0.70.rom"},
            {"vendor": "snom", "model": "D785", "version": "10.1.175.16",
             "url": "http://fw.example/snom/snomD785-10.1.175.16-r.bin"},
            {"vendor": "poly", "model": "VVX450", "version": "6.4.6.2546",
             "url": "http://fw.example/poly/6.4.6.2546/"},
            {"vendor": "grandstream", "model": "GRP2614", "version": "1.0.11.3",
             "url": "http://fw.example/grandstream/grp2614fw.bin"},
        ]
    }
)

ENDPOINT = Endpoint(
    sip_server="10.60.1.10",
    provisioning_url="http://10.60.1.10/",
    fallback_url="http://10.250.9.10/",
)


def customer(**changes: Any) -> Customer:
    data = copy.deepcopy(CUSTOMER)
    data.update(changes)
    return Customer.model_validate(data)


def credentials(c: Customer) -> dict[str, Credential]:
    return {
        p.extension: Credential(p.extension, Redacted(f"{PLANTED_SECRET_PREFIX}{p.extension}"))
        for s in c.systems
        for p in s.phones
    }
