"""Ticket sync faults that must not block or duplicate, against the real RT in process:
a customer who left the book, a ticket whose key another incident's link holds, a sync
that lost its ledger lock."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.fleet import load_book
from orchestrator.ledger import ActionRecord, Ledger
from orchestrator.ledger import tickets as store
from orchestrator.secrets import Redacted
from orchestrator.sla import incidents
from orchestrator.tickets.adapter import RtTickets
from orchestrator.tickets.model import NewTicket
from orchestrator.tickets.sync import Sync
from tests.conftest import DEMO_BOOK
from tests.rtserver import RtServer

FLEET = load_book(DEMO_BOOK)


@pytest.fixture
def world(rt: RtServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    tag = secrets.token_hex(4)
    api = RtTickets(rt.url, rt.api_user, Redacted(rt.api_password))
    api.ensure_queue(f"triage-{tag}")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield {"api": api, "ledger": ledger, "triage": f"triage-{tag}", "instance": f"f{tag}"}
    ledger.engine.dispose()


def _sync(w: dict[str, Any], fleet: Any = FLEET, **kw: Any) -> Sync:
    return Sync(fleet, w["ledger"], w["api"], w["triage"], lambda: datetime.now(UTC), None,
                w["instance"], **kw)


def _open(w: dict[str, Any], customer: str) -> int:
    o = incidents.open_incident(FLEET, w["ledger"], None, customer_id=customer,
                                title="checks failed", actor="tech", now=datetime.now(UTC))
    assert o.incident.id is not None
    return o.incident.id


def test_a_customer_who_left_the_book_does_not_block_the_others(world: dict[str, Any]) -> None:
    gone = _open(world, "clinic-nord")
    incidents.acknowledge(world["ledger"], gone, "tech", datetime.now(UTC))  # a later ack row
    kept = _open(world, "kanzlei-roth")
    fleet = dataclasses.replace(
        FLEET, customers=tuple(c for c in FLEET.customers if c.id != "clinic-nord")
    )
    out = _sync(world, fleet).run()
    assert out.error is None
    assert [link.incident_id for link in store.links(world["ledger"])] == [kept]
    assert len(out.failed) == 1 and "clinic-nord" in out.failed[0]
    waiting = {(e.incident_id, e.action): e.last_error for e in out.waiting}
    assert set(waiting) == {(gone, "create"), (gone, "ack")}
    assert "clinic-nord" in (waiting[(gone, "create")] or "")
    again = _sync(world, fleet).run()  # the next sync is not stopped either
    assert again.error is None and len(again.failed) == 1


def test_a_ticket_linked_to_another_incident_is_an_error_not_done(world: dict[str, Any]) -> None:
    """RT's search finds a ticket with A's key that the ledger links to B (a ticket
    created twice, a key edited by hand): A's create row stays pending, named."""
    a, b = _open(world, "clinic-nord"), _open(world, "clinic-nord")
    sync = _sync(world)
    inc_a = incidents.get(world["ledger"], a)
    world["api"].ensure_queue("clinic-nord")
    twin = world["api"].create(NewTicket(
        queue="clinic-nord", subject="twin", text="t", requestors=(), due=inc_a.deadline,
        incident=sync.key(inc_a),
    ))
    rec = ActionRecord(kind="test.link", customer_id="clinic-nord", contract_id=None,
                       summary=f"INC b is #{twin}", actor="test")
    assert store.record_link(world["ledger"], store.Link(b, twin, "clinic-nord"), rec)
    out = sync.run()
    assert out.error is not None and f"#{twin}" in out.error and inc_a.ticket in out.error
    assert store.link_of_incident(world["ledger"], a) is None
    assert [(e.incident_id, e.action) for e in store.pending(world["ledger"])] == [(a, "create")]


def test_a_sync_that_lost_its_lock_stops_before_changing_rt(world: dict[str, Any]) -> None:
    _open(world, "clinic-nord")
    out = _sync(world, keep_lock=lambda: False).run()
    assert out.error is not None and "lost its ledger lock" in out.error
    assert store.links(world["ledger"]) == [] and out.created == []
    assert len(out.waiting) == 1  # the create row waits for the next sync
    done = _sync(world, keep_lock=lambda: True).run()
    assert done.error is None and len(done.created) == 1
