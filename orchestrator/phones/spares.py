"""Use cases of the spare-parts stock: show, receive, reserve/release. Each change is a
ledger movement; the book's ``stock.yml`` stays the baseline."""

from __future__ import annotations

from ..errors import RefusedError
from ..ledger import ActionRecord
from ..ledger import phones as ledger_phones
from .profiles import profile_for
from .service import Workspace
from .stock import StockLevel, check_release, check_reserve, level, stock_levels


def stock_view(ws: Workspace) -> list[StockLevel]:
    return stock_levels(ws.fleet.stock, ledger_phones.stock_movements(ws.ledger))


def receive(ws: Workspace, vendor: str, model: str, count: int, actor: str, note: str = "") -> StockLevel:
    """Spares delivered to the stock."""
    if count < 1:
        raise RefusedError("receive at least one device")
    profile_for(vendor, model)
    ledger_phones.record_movement(
        ws.ledger,
        ledger_phones.StockMovement(vendor, model, "receive", actor, count_delta=count, note=note),
    )
    return _level(ws, vendor, model)


def reserve(
    ws: Workspace,
    vendor: str,
    model: str,
    count: int,
    actor: str,
    customer_id: str | None = None,
    note: str = "",
    release: bool = False,
) -> StockLevel:
    """Set spares aside (for a planned swap or a customer), or release them again."""
    if count < 1:
        raise RefusedError("reserve or release at least one device")
    if customer_id is not None:
        ws.fleet.customer(customer_id)
    current = level(stock_view(ws), vendor, model)
    (check_release if release else check_reserve)(current, vendor, model, count)
    kind = "release" if release else "reserve"
    movement = ledger_phones.StockMovement(
        vendor, model, kind, actor, reserved_delta=-count if release else count,
        customer_id=customer_id, note=note,
    )
    action = None
    if customer_id is not None:
        action = ActionRecord(
            kind=f"stock.{kind}", customer_id=customer_id, contract_id=None, actor=actor,
            summary=f"{kind}d {count} x {vendor} {model}" + (f": {note}" if note else ""),
            detail={"vendor": vendor, "model": model, "count": count},
        )
    ledger_phones.record_movement(ws.ledger, movement, action)
    return _level(ws, vendor, model)


def _level(ws: Workspace, vendor: str, model: str) -> StockLevel:
    found = level(stock_view(ws), vendor, model)
    assert found is not None
    return found
