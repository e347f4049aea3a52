"""Contract books for lab test modules: customers with PBX systems on lab addresses, written
as files the way an ops engineer keeps them, and the settings of a lab built from one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from orchestrator import lab
from orchestrator.settings import Settings, load_settings

from .conftest import TEST_RUN_DIR, running_lab

REPO = Path(__file__).resolve().parents[2]
ALWAYS = {"slots": ["mon-sun 00:00-24:00"]}


def customer(cid: str, subnet: str, hosts: Mapping[str, str], *,
             kind: str = "software_maintenance", internal: bool = False,
             end: str = "2030-12-31", window: Mapping[str, Any] = ALWAYS,
             tz: str = "Europe/Berlin", call_drain_minutes: int = 2,
             profile: str = "labpbx") -> dict[str, Any]:
    """One customer with one site (``subnet``) and an Asterisk PBX per ``hosts`` entry
    (hostname -> address; the lab's fast stand-in profile ``labpbx`` unless ``profile`` is
    ``asterisk``: a real Asterisk host), under one contract of ``kind``."""
    systems = [
        {"hostname": host, "site": "main", "address": address, "platform": "asterisk",
         "pbx_profile": profile,
         "deployment": "virtual" if kind == "hosting" else "hardware", "os_release": "12",
         "licences": [{"kind": "user", "count": 5}], "extensions": 5,
         "maintenance_window": dict(window), "internal": internal}
        for host, address in hosts.items()
    ]
    contracts = [{"id": f"{cid}-c", "kind": kind, "start": "2020-01-01", "end": end,
                  "call_drain_minutes": call_drain_minutes}]
    return {"id": cid, "name": cid.title(), "timezone": tz,
            "contacts": [{"email": f"it@{cid}.example"}],
            "sites": [{"id": "main", "subnet": subnet}], "systems": systems,
            "contracts": contracts}


def one_pbx_customer(cid: str, octet: int, **kw: Any) -> dict[str, Any]:
    """A customer whose single PBX ``<cid>-pbx`` is 10.210.<octet>.10 on 10.210.<octet>.0/24."""
    return customer(cid, f"10.210.{octet}.0/24", {f"{cid}-pbx": f"10.210.{octet}.10"}, **kw)


def write_book(root: Path, customers: Sequence[dict[str, Any]]) -> Path:
    """A contract book at ``root``: one file per customer and the demo book's releases."""
    (root / "customers").mkdir(parents=True)
    for c in customers:
        (root / "customers" / f"{c['id']}.yml").write_text(yaml.safe_dump(c, sort_keys=False))
    (root / "releases.yml").write_text((REPO / "inventory" / "demo" / "releases.yml").read_text())
    return root


@contextmanager
def book_lab(root: Path, customers: Sequence[dict[str, Any]], *,
             extra_specs: Sequence[lab.HostSpec] = (), ledger: bool = True) -> Iterator[Settings]:
    """A lab running every system of the book written under ``root`` (plus ``extra_specs``),
    and settings for it: the test lab run dir, state under ``root``, a SQLite ledger there
    unless ``ledger`` is False, mail going nowhere. The lab is ALWAYS taken down after."""
    book = write_book(root / "book", customers)
    args = {"book": str(book), "state_dir": str(root / "state"), "lab_run_dir": TEST_RUN_DIR,
            "smtp_port": 1}
    if ledger:
        args["ledger_url"] = f"sqlite:///{root}/ledger.sqlite"
    settings = load_settings(args=args)
    with running_lab(settings, [*lab.specs_from_book(book), *extra_specs]):
        yield settings.model_copy(update={"ssh_config": lab.LabPaths.of(settings).ssh_config})
