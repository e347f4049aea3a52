"""A small book on disk for the phone use-case tests: ACME (hardware maintenance, one phone
of every vendor), Nohw (no hardware maintenance) and the provider's standby PBX."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from orchestrator.settings import Settings, load_settings

from ..secret_key import ensure_key
from .phones_data import CUSTOMER

STOCK = """\
---
# spare parts
items:
  - {vendor: yealink, model: T54W, count: 2, low_water: 1, compatible: [T53W]}
  - {vendor: snom, model: D785, count: 0, low_water: 1}
  - {vendor: poly, model: VVX450, count: 1, low_water: 1}
  - {vendor: grandstream, model: GRP2614, count: 3, reserved: 1, low_water: 1}
"""

RELEASES = """\
---
firmware:
  - {vendor: yealink, model: T54W, version: 96.86.0.70, url: "http://fw.example/T54W.rom"}
"""


def _nohw() -> dict[str, Any]:
    c = copy.deepcopy(CUSTOMER)
    c.update(id="nohw", name="No Hardware Maintenance")
    c["sites"][0]["subnet"] = "10.61.1.0/24"
    system = c["systems"][0]
    system.update(hostname="nohw-pbx", address="10.61.1.10")
    system["phones"] = [{"mac": "80:5e:c0:00:09:01", "vendor": "yealink", "model": "T54W",
                         "extension": "201", "display_name": "Nora"}]
    c["contracts"] = [{**c["contracts"][0], "id": "nohw-sla"}]  # the SLA only
    return c


def _provider() -> dict[str, Any]:
    c = copy.deepcopy(CUSTOMER)
    c.update(id="provider", name="Provider", language="en")
    c["sites"][0]["subnet"] = "10.250.9.0/24"
    system = c["systems"][0]
    system.update(hostname="standby-pbx", address="10.250.9.10", deployment="virtual",
                  internal=True)
    system["phones"] = []
    c["contracts"] = [{"id": "provider-host", "kind": "hosting", "start": "2026-01-01"}]
    return c


def write_book(root: Path, acme_changes: dict[str, Any] | None = None,
               pbx_profile: str = "labpbx") -> Path:
    """``pbx_profile``: labpbx (no SIP accounts to publish: the publishing tests run the role
    on this machine, where no Asterisk runs) or asterisk (accounts rendered too)."""
    (root / "customers").mkdir(parents=True, exist_ok=True)
    acme = copy.deepcopy(CUSTOMER)
    acme.update(acme_changes or {})
    for c in (acme, _nohw(), _provider()):
        for system in c["systems"]:
            system.setdefault("pbx_profile", pbx_profile)
        text = f"---\n# Contract book entry of {c['name']}.\n" + yaml.safe_dump(c, sort_keys=False, allow_unicode=True)
        (root / "customers" / f"{c['id']}.yml").write_text(text)
    (root / "stock.yml").write_text(STOCK)
    (root / "releases.yml").write_text(RELEASES)
    return root


def settings_for(tmp: Path, book: Path) -> Settings:
    """Settings of a private state under ``tmp``, its secret key made by `secrets init`."""
    return ensure_key(load_settings(
        {
            "book": str(book),
            "state_dir": str(tmp / "state"),
            "ledger_url": f"sqlite:///{tmp / 'ledger.sqlite'}",
            "secret_key_file": str(tmp / "secret.key"),
        },
        env={},
    ))
