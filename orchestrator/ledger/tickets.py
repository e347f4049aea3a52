"""Ledger tables of the ticket-system link (migration ``0007_tickets``).

- ``ticket_links``: incident <-> ticket, one to one (both columns unique: a second ticket
  for an incident or a second incident for a ticket cannot be written); ``last_txn`` is
  the newest ticket-system transaction whose effect pbxops recorded (sync reads only
  newer ones).
- ``ticket_outbox``: what pbxops still has to do in the ticket system, one row per
  (incident, action) — ``create``, ``ack``, ``resolve`` — so enqueuing twice is a no-op;
  ``attempts`` and ``last_error`` say why a row waits; ``done_at`` when it went through.
- ``ticket_triage``: tickets opened by mail from senders no customer matched; reported by
  every sync until someone moves them to a customer's queue.

A ticket's incident, its link and its ``create`` row are written in ONE transaction
(``within`` of ``sla.add_incident``): a sync killed at any point leaves either all or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import ActionRecord, Ledger, add_action
from .models import Base, as_utc, utcnow
from .sla import IncidentRow


class TicketLinkRow(Base):
    __tablename__ = "ticket_links"

    incident_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    queue: Mapped[str] = mapped_column(String(200), nullable=False)
    last_txn: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TicketOutboxRow(Base):
    __tablename__ = "ticket_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("incident_id", "action", name="uq_ticket_outbox_action"),)


class TicketTriageRow(Base):
    __tablename__ = "ticket_triage"

    ticket_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Link:
    incident_id: int
    ticket_id: int
    queue: str
    last_txn: int = 0


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    incident_id: int
    action: str
    attempts: int
    last_error: str | None
    done: bool


def _link(r: TicketLinkRow) -> Link:
    return Link(r.incident_id, r.ticket_id, r.queue, r.last_txn)


def _entry(r: TicketOutboxRow) -> OutboxEntry:
    return OutboxEntry(r.id, r.incident_id, r.action, r.attempts, r.last_error, r.done_at is not None)


def links(ledger: Ledger) -> list[Link]:
    with ledger.session() as s:
        return [_link(r) for r in s.scalars(select(TicketLinkRow).order_by(TicketLinkRow.incident_id))]


def link_of_incident(ledger: Ledger, incident_id: int) -> Link | None:
    with ledger.session() as s:
        row = s.get(TicketLinkRow, incident_id)
        return _link(row) if row else None


def link_of_ticket(ledger: Ledger, ticket_id: int) -> Link | None:
    with ledger.session() as s:
        row = s.scalars(select(TicketLinkRow).where(TicketLinkRow.ticket_id == ticket_id)).first()
        return _link(row) if row else None


def add_link_in(s: Session, incident_id: int, ticket_id: int, queue: str) -> None:
    s.add(TicketLinkRow(incident_id=incident_id, ticket_id=ticket_id, queue=queue, last_txn=0))


def record_link(ledger: Ledger, link: Link, rec: ActionRecord) -> bool:
    """Link an existing incident to its ticket; False when either side is linked already
    (nothing written)."""
    try:
        with ledger.session() as s:
            add_link_in(s, link.incident_id, link.ticket_id, link.queue)
            s.flush()
            add_action(s, rec)
        return True
    except IntegrityError:
        return False


def advance(ledger: Ledger, incident_id: int, txn: int, rec: ActionRecord | None = None) -> None:
    """Move the link's cursor to ``txn`` (never back), with the action it caused, together."""
    with ledger.session() as s:
        row = s.get(TicketLinkRow, incident_id)
        if row is None or row.last_txn >= txn:
            return
        row.last_txn = txn
        if rec is not None:
            add_action(s, rec)


def enqueue_in(s: Session, incident_id: int, action: str) -> None:
    """Add (incident, action) to the outbox unless it is there already (done or not)."""
    q = select(TicketOutboxRow).where(
        TicketOutboxRow.incident_id == incident_id, TicketOutboxRow.action == action
    )
    if s.scalars(q).first() is None:
        s.add(TicketOutboxRow(incident_id=incident_id, action=action, attempts=0))


def enqueue(ledger: Ledger, incident_id: int, action: str) -> None:
    try:
        with ledger.session() as s:
            enqueue_in(s, incident_id, action)
    except IntegrityError:  # a concurrent enqueue of the same row won
        return


def pending(ledger: Ledger, incident_id: int | None = None) -> list[OutboxEntry]:
    q = select(TicketOutboxRow).where(TicketOutboxRow.done_at.is_(None)).order_by(TicketOutboxRow.id)
    if incident_id is not None:
        q = q.where(TicketOutboxRow.incident_id == incident_id)
    with ledger.session() as s:
        return [_entry(r) for r in s.scalars(q)]


def outbox(ledger: Ledger) -> list[OutboxEntry]:
    with ledger.session() as s:
        return [_entry(r) for r in s.scalars(select(TicketOutboxRow).order_by(TicketOutboxRow.id))]


def mark_done(ledger: Ledger, entry_id: int, rec: ActionRecord | None = None) -> None:
    with ledger.session() as s:
        row = s.get(TicketOutboxRow, entry_id)
        if row is None or row.done_at is not None:
            return
        row.done_at = utcnow()
        row.attempts += 1
        row.last_error = None
        if rec is not None:
            add_action(s, rec)


def mark_done_action(ledger: Ledger, incident_id: int, action: str) -> None:
    """The ticket system did it itself (a change made in RT): nothing left to send."""
    with ledger.session() as s:
        q = select(TicketOutboxRow).where(
            TicketOutboxRow.incident_id == incident_id,
            TicketOutboxRow.action == action,
            TicketOutboxRow.done_at.is_(None),
        )
        for row in s.scalars(q):
            row.done_at = utcnow()
            row.last_error = None


def mark_failed(ledger: Ledger, entry_id: int, error: str) -> None:
    with ledger.session() as s:
        row = s.get(TicketOutboxRow, entry_id)
        if row is not None and row.done_at is None:
            row.attempts += 1
            row.last_error = error[:500]


def actions_of(ledger: Ledger) -> dict[int, set[str]]:
    """Every outbox action (done or pending) per incident."""
    out: dict[int, set[str]] = {}
    with ledger.session() as s:
        for r in s.scalars(select(TicketOutboxRow)):
            out.setdefault(r.incident_id, set()).add(r.action)
    return out


def unlinked_open_incidents(ledger: Ledger) -> list[int]:
    linked = select(TicketLinkRow.incident_id)
    q = (
        select(IncidentRow.id)
        .where(IncidentRow.resolved_at.is_(None), IncidentRow.id.not_in(linked))
        .order_by(IncidentRow.id)
    )
    with ledger.session() as s:
        return list(s.scalars(q))


def triaged(ledger: Ledger) -> dict[int, tuple[str, str]]:
    """Tickets waiting in triage: ticket id -> (sender, subject)."""
    with ledger.session() as s:
        q = select(TicketTriageRow).order_by(TicketTriageRow.ticket_id)
        return {r.ticket_id: (r.sender, r.subject) for r in s.scalars(q)}


def record_triage(ledger: Ledger, ticket_id: int, sender: str, subject: str, at: datetime) -> None:
    """Note a ticket no customer matched, once (its ``ticket.triage`` action too)."""
    try:
        with ledger.session() as s:
            s.add(TicketTriageRow(ticket_id=ticket_id, sender=sender, subject=subject, seen_at=as_utc(at)))
            s.flush()
            add_action(
                s,
                ActionRecord(
                    kind="ticket.triage",
                    customer_id="(triage)",
                    contract_id=None,
                    summary=f"ticket #{ticket_id} from {sender} matches no customer: {subject}",
                    actor="pbxops tickets sync",
                    outcome="triage",
                    detail={"ticket": ticket_id, "sender": sender},
                    at=at,
                ),
            )
    except IntegrityError:
        return


def untriage(ledger: Ledger, ticket_id: int) -> None:
    with ledger.session() as s:
        row = s.get(TicketTriageRow, ticket_id)
        if row is not None:
            s.delete(row)
