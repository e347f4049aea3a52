"""Use cases the CLI (and tests) call. Each takes Settings and plain arguments and
returns plain data; no printing here."""

from __future__ import annotations

from datetime import date
from typing import Any

from .errors import BookIssue
from .fleet import Fleet, entitled_rows, load_book, validate_book
from .inventory import render_inventory, static_inventory
from .ledger import Ledger
from .settings import Settings


def open_fleet(settings: Settings) -> Fleet:
    return load_book(settings.book)


def open_ledger(settings: Settings, *, upgrade: bool = True) -> Ledger:
    return Ledger(settings.ledger, upgrade=upgrade)


def validate(settings: Settings) -> list[BookIssue]:
    return validate_book(settings.book)[1]


def fleet_summary(settings: Settings, on: date) -> list[dict[str, Any]]:
    """One row per customer: systems, phones, contracts active on ``on``."""
    fleet = open_fleet(settings)
    rows = []
    for c in fleet.customers:
        rows.append(
            {
                "customer": c.id,
                "name": c.name,
                "timezone": c.timezone,
                "systems": [s.hostname for s in c.systems],
                "phones": sum(len(s.phones) for s in c.systems),
                "extensions": sum(s.extensions for s in c.systems),
                "contracts": [f"{k.kind}:{k.id}" for k in c.contracts if k.active_on(on)],
            }
        )
    return rows


def entitled(settings: Settings, on: date) -> list[dict[str, Any]]:
    return entitled_rows(open_fleet(settings), on)


def inventory(
    settings: Settings, on: date, static: bool = False, customers: tuple[str, ...] = ()
) -> dict[str, Any]:
    inv = render_inventory(open_fleet(settings), on, customers)
    return static_inventory(inv) if static else inv


def db_upgrade(settings: Settings) -> tuple[str, list[str]]:
    ledger = open_ledger(settings, upgrade=False)
    return ledger.safe_url, ledger.upgrade()


def db_status(settings: Settings) -> dict[str, Any]:
    ledger = open_ledger(settings, upgrade=False)
    current, heads = ledger.current(), ledger.heads()
    return {
        "url": ledger.safe_url,
        "current": sorted(current),
        "heads": sorted(heads),
        "up_to_date": current == heads,
    }
