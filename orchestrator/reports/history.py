"""Per-contract history: every action any part of pbxops recorded for a customer, in time
order, as rows for a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..errors import NotFoundError
from ..fleet import Fleet
from ..ledger import ActionRecord, Ledger

COLUMNS = ("at", "kind", "contract", "host", "outcome", "actor", "summary", "id")


def history(
    fleet: Fleet, ledger: Ledger, customer_id: str, contract_id: str | None = None
) -> list[dict[str, Any]]:
    """Rows in time order; unknown customers (and contracts) are refused."""
    customer = fleet.customer(customer_id)
    if contract_id and contract_id not in {k.id for k in customer.contracts}:
        raise NotFoundError(f"customer {customer_id!r} has no contract {contract_id!r}")
    return [_row(a) for a in ledger.actions(customer_id=customer.id, contract_id=contract_id)]


def _row(a: ActionRecord) -> dict[str, Any]:
    return {
        "at": a.at.isoformat() if a.at else "",
        "kind": a.kind,
        "contract": a.contract_id or "",
        "host": a.host or "",
        "outcome": a.outcome,
        "actor": a.actor,
        "summary": a.summary,
        "id": a.id,
        "detail": a.detail,
    }


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
