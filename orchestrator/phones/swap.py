"""Hardware maintenance: swap a broken phone from the spare-parts stock, and the
workaround that re-points a customer's phones to a standby PBX while theirs is down.

Both are refused without an active hardware-maintenance contract; both are recorded
against it. A swap edits the book (the MAC and, for a compatible spare, the model of that
one phone entry) so the book stays the single source of truth; the stock movement and the
ledger row are written in one transaction.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from ..errors import BookError, NotFoundError, RefusedError
from ..fleet import Fleet, HostRef
from ..fsutil import atomic_write
from ..ledger import ActionRecord
from ..ledger import phones as ledger_phones
from ..model import Phone, normalize_mac
from .profiles import profile_for
from .publish import PublishOptions, PublishOutcome, raise_for
from .render import PhoneFiles
from .service import (
    HostFiles,
    Workspace,
    customer_hosts,
    hardware_contract,
    host_files,
    publish_hosts,
    render_customer,
    render_host,
    workaround_endpoint,
)
from .stock import StockLevel, replacement_for, stock_levels


def current_stock(ws: Workspace) -> list[StockLevel]:
    return stock_levels(ws.fleet.stock, ledger_phones.stock_movements(ws.ledger))


@dataclass(frozen=True)
class PhoneAt:
    ref: HostRef
    phone: Phone
    system_index: int
    phone_index: int


def find_phone(fleet: Fleet, customer_id: str, mac: str) -> PhoneAt:
    customer = fleet.customer(customer_id)
    for i, system in enumerate(customer.systems):
        for j, phone in enumerate(system.phones):
            if phone.mac == mac:
                ref = next(r for r in fleet.hosts([customer_id]) if r.system == system)
                return PhoneAt(ref, phone, i, j)
    raise NotFoundError(f"customer {customer_id} has no phone with MAC {mac}")


def _check_new_mac(fleet: Fleet, mac: str) -> None:
    for ref in fleet.hosts():
        if any(p.mac == mac for p in ref.system.phones):
            raise RefusedError(
                f"MAC {mac} is already in the book (customer {ref.customer.id}, {ref.hostname})"
            )


@dataclass(frozen=True)
class SwapPlan:
    at: PhoneAt
    new_mac: str
    spare: StockLevel
    contract_id: str


def plan_swap(
    ws: Workspace, customer_id: str, old_mac: str, new_mac: str, on: date, model: str | None = None
) -> SwapPlan:
    """Check everything a swap needs; nothing is written. Refused with the reason."""
    try:
        old, new = normalize_mac(old_mac), normalize_mac(new_mac)
    except ValueError as exc:
        raise RefusedError(str(exc)) from exc
    at = find_phone(ws.fleet, customer_id, old)
    contract = hardware_contract(at.ref.customer, at.ref.hostname, on)
    _check_new_mac(ws.fleet, new)
    spare = replacement_for(current_stock(ws), at.phone.vendor, at.phone.model, model)
    profile_for(spare.vendor, spare.model)
    return SwapPlan(at, new, spare, contract.id)


@dataclass(frozen=True)
class SwapResult:
    customer_id: str
    hostname: str
    extension: str
    old_mac: str
    new_mac: str
    model: str
    contract_id: str
    action_id: int | None
    published: tuple[PublishOutcome, ...] = ()


def swap_phone(
    ws: Workspace,
    customer_id: str,
    old_mac: str,
    new_mac: str,
    actor: str,
    on: date,
    model: str | None = None,
    publish: bool = True,
    options: PublishOptions | None = None,
) -> SwapResult:
    plan = plan_swap(ws, customer_id, old_mac, new_mac, on, model)
    rel = ws.fleet.files.get(customer_id, f"customers/{customer_id}.yml")
    # edit the file itself, not a link to it (loading refused links out of the book)
    path = (ws.fleet.root / rel).resolve()
    original = path.read_text()
    book_mode = stat.S_IMODE(path.stat().st_mode)  # a book file keeps its mode
    _edit_phone_entry(path, plan)
    try:
        ws.reload()
        action_id = _record_swap(ws, plan, actor)
    except BaseException:
        atomic_write(path, original, mode=book_mode)
        ws.reload()
        raise
    outcomes: tuple[PublishOutcome, ...] = ()
    if publish:
        ref = ws.fleet.host(plan.at.ref.hostname)
        host = host_files(ws, ref)
        outcomes = tuple(publish_hosts(ws, [host], actor, on, options or PublishOptions()))
        raise_for(list(outcomes))
    return SwapResult(customer_id, plan.at.ref.hostname, plan.at.phone.extension,
                      plan.at.phone.mac, plan.new_mac, plan.spare.model, plan.contract_id,
                      action_id, outcomes)


def _record_swap(ws: Workspace, plan: SwapPlan, actor: str) -> int | None:
    phone = plan.at.phone
    summary = (
        f"swapped {phone.vendor} {phone.model} {phone.mac} (extension {phone.extension}) for "
        f"spare {plan.spare.model} {plan.new_mac} from stock"
    )
    action = ActionRecord(
        kind="phones.swap",
        customer_id=plan.at.ref.customer.id,
        contract_id=plan.contract_id,
        summary=summary,
        actor=actor,
        host=plan.at.ref.hostname,
        detail={"extension": phone.extension, "old_mac": phone.mac, "new_mac": plan.new_mac,
                "old_model": phone.model, "new_model": plan.spare.model,
                "vendor": phone.vendor},
    )
    movement = ledger_phones.StockMovement(
        vendor=plan.spare.vendor, model=plan.spare.model, kind="swap", actor=actor,
        count_delta=-1, customer_id=plan.at.ref.customer.id, contract_id=plan.contract_id,
        note=f"replaces {phone.mac} ({phone.model}) at {plan.at.ref.hostname}",
    )
    return ledger_phones.record_movement(ws.ledger, movement, action)


def _edit_phone_entry(path: Path, plan: SwapPlan) -> None:
    """Replace the MAC (and model) of one phone entry in the customer's YAML file, keeping
    every other byte (comments, order, style) as it was."""
    text = path.read_text()
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        raise BookError([])
    entry = _child(_child(_child(_child(node, "systems"), plan.at.system_index), "phones"),
                   plan.at.phone_index)
    edits = [(_child(entry, "mac"), f'"{_colon_mac(plan.new_mac)}"')]
    if plan.spare.model != plan.at.phone.model:
        edits.append((_child(entry, "model"), plan.spare.model))
    for value, replacement in sorted(edits, key=lambda e: -e[0].start_mark.index):
        text = text[: value.start_mark.index] + replacement + text[value.end_mark.index :]
    atomic_write(path, text, mode=stat.S_IMODE(path.stat().st_mode))  # keeps the book's mode


def _colon_mac(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def _child(node: yaml.Node, key: str | int) -> yaml.Node:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if k.value == key:
                return v  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        return node.value[key]  # type: ignore[no-any-return]
    raise BookError([])  # the book was validated: unreachable unless edited meanwhile


# -- workaround ------------------------------------------------------------------------


def workaround(
    ws: Workspace,
    customer_id: str,
    standby: str,
    actor: str,
    on: date,
    revert: bool = False,
    options: PublishOptions | None = None,
) -> list[PublishOutcome]:
    """Re-point the customer's phones to ``standby`` (publish their configs there), or
    ``revert``: remove them from the standby and republish on the customer's own PBX."""
    standby_ref = ws.fleet.host(standby)
    refs = [r for r in customer_hosts(ws.fleet, customer_id) if r.system.phones]
    if any(r.hostname == standby for r in refs):
        raise RefusedError(f"{standby} is the customer's own PBX, not a standby")
    for ref in refs:
        hardware_contract(ref.customer, ref.hostname, on)
    kind = "phones.workaround.revert" if revert else "phones.workaround"
    hosts = [_workaround_files(ws, ref, standby_ref, revert) for ref in refs]
    outcomes = publish_hosts(ws, hosts, actor, on, options or PublishOptions(), kind)
    if revert:
        outcomes += publish_hosts(ws, render_customer(ws, customer_id), actor, on,
                                  options or PublishOptions())
    raise_for(outcomes)
    return outcomes


def _workaround_files(ws: Workspace, ref: HostRef, standby: HostRef, revert: bool) -> HostFiles:
    files = PhoneFiles(()) if revert else render_host(ws, ref, workaround_endpoint(ref, standby))
    return HostFiles(ref.hostname, standby.hostname, str(standby.address),
                     f"workaround-{ref.hostname}", files)
