"""Ledger tables of the SLA service: incidents and hour-package bookings.

- ``incidents``: one per fault, opened by a failing health check or a technician, with the
  reaction deadline computed when it opened; acknowledging it records the reaction time.
- ``hour_bookings``: hours of work with their billing verdict (``billing``: free under the
  covering contract, on the hour package ``contract_id``, or billable) and its ``reason``
  (migration ``0006_hour_billing``; older rows are derived from ``billable``).

Every change also writes its ``actions`` row (``incident.*``, ``hours.book``) in the same
transaction, so the per-contract history sees it. Other packages get plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..model.billing import Billing
from .db import ActionRecord, Ledger, add_action
from .models import Base, as_utc, utcnow


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    host: Mapped[str | None] = mapped_column(String(120), nullable=True)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(30), nullable=False)  # sweep | technician
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    opened_by: Mapped[str] = mapped_column(String(120), nullable=False)
    reaction_hours: Mapped[float] = mapped_column(Float, nullable=False)
    hours_basis: Mapped[str] = mapped_column(String(20), nullable=False)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    cause: Mapped[str | None] = mapped_column(String(30), nullable=True)
    coverage: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_incidents_customer_opened", "customer_id", "opened_at"),
        Index("ix_incidents_host_open", "host", "resolved_at"),
    )


class HourBookingRow(Base):
    __tablename__ = "hour_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    hours: Mapped[float] = mapped_column(Float, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    billable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    billing: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_hour_bookings_customer", "customer_id", "contract_id"),)


@dataclass(frozen=True)
class Incident:
    customer_id: str
    contract_id: str | None
    host: str | None
    title: str
    source: str
    opened_at: datetime
    opened_by: str
    reaction_hours: float
    hours_basis: str
    deadline: datetime
    acked_at: datetime | None = None
    acked_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    cause: str | None = None
    coverage: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def ticket(self) -> str:
        return f"INC-{self.id:06d}" if self.id is not None else "INC-new"

    @property
    def state(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acked_at is not None else "open"


@dataclass(frozen=True)
class HourBooking:
    """Hours of work; ``contract_id`` is the covering contract (free), the hour package
    (package) or None (billable)."""

    customer_id: str
    contract_id: str | None
    hours: float
    text: str
    actor: str
    billing: Billing = Billing.PACKAGE
    incident_id: int | None = None
    at: datetime | None = None
    id: int | None = None
    reason: str = ""

    @property
    def billable(self) -> bool:
        return self.billing is Billing.BILLABLE

    @property
    def where(self) -> str:
        if self.billing is Billing.PACKAGE:
            return f"package {self.contract_id}"
        if self.billing is Billing.FREE:
            return f"free under {self.contract_id}"
        return "billable"


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _incident(r: IncidentRow) -> Incident:
    return Incident(
        customer_id=r.customer_id,
        contract_id=r.contract_id,
        host=r.host,
        title=r.title,
        source=r.source,
        opened_at=_aware(r.opened_at) or r.opened_at,
        opened_by=r.opened_by,
        reaction_hours=r.reaction_hours,
        hours_basis=r.hours_basis,
        deadline=_aware(r.deadline) or r.deadline,
        acked_at=_aware(r.acked_at),
        acked_by=r.acked_by,
        resolved_at=_aware(r.resolved_at),
        resolved_by=r.resolved_by,
        cause=r.cause,
        coverage=r.coverage,
        detail=dict(r.detail or {}),
        id=r.id,
    )


def add_incident(
    ledger: Ledger, inc: Incident, within: Callable[[Session, Incident], None] | None = None
) -> Incident:
    """Store a new incident and its ``incident.open`` action; return it with its id.
    ``within`` writes more rows in the same transaction (the ticket link: all or none)."""
    with ledger.session() as s:
        row = IncidentRow(
            customer_id=inc.customer_id,
            contract_id=inc.contract_id,
            host=inc.host,
            title=inc.title,
            source=inc.source,
            opened_at=as_utc(inc.opened_at),
            opened_by=inc.opened_by,
            reaction_hours=inc.reaction_hours,
            hours_basis=inc.hours_basis,
            deadline=as_utc(inc.deadline),
            detail=inc.detail,
        )
        s.add(row)
        s.flush()
        stored = replace(
            inc, id=row.id, opened_at=as_utc(inc.opened_at), deadline=as_utc(inc.deadline)
        )
        add_action(s, _incident_action(stored, "incident.open", inc.opened_by, inc.opened_at))
        if within is not None:
            within(s, stored)
    return stored


def _incident_action(inc: Incident, kind: str, actor: str, at: datetime) -> ActionRecord:
    verb = kind.split(".", 1)[1]
    return ActionRecord(
        kind=kind,
        customer_id=inc.customer_id,
        contract_id=inc.contract_id,
        summary=f"{inc.ticket} {verb}: {inc.title}",
        actor=actor,
        host=inc.host,
        detail={"incident": inc.id, "deadline": inc.deadline.isoformat()},
        at=at,
    )


def incident(ledger: Ledger, incident_id: int) -> Incident | None:
    with ledger.session() as s:
        row = s.get(IncidentRow, incident_id)
        return _incident(row) if row else None


def incidents(
    ledger: Ledger,
    customer_id: str | None = None,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
    only_open: bool = False,
) -> list[Incident]:
    q = select(IncidentRow).order_by(IncidentRow.opened_at, IncidentRow.id)
    if customer_id:
        q = q.where(IncidentRow.customer_id == customer_id)
    if opened_from:
        q = q.where(IncidentRow.opened_at >= as_utc(opened_from))
    if opened_to:
        q = q.where(IncidentRow.opened_at < as_utc(opened_to))
    if only_open:
        q = q.where(IncidentRow.resolved_at.is_(None))
    with ledger.session() as s:
        return [_incident(r) for r in s.scalars(q)]


def open_incident_for_host(ledger: Ledger, host: str) -> Incident | None:
    q = (
        select(IncidentRow)
        .where(IncidentRow.host == host, IncidentRow.resolved_at.is_(None))
        .order_by(IncidentRow.id)
    )
    with ledger.session() as s:
        row = s.scalars(q).first()
        return _incident(row) if row else None


def update_incident(
    ledger: Ledger, updated: Incident, kind: str, actor: str, at: datetime, note: str = ""
) -> Incident:
    """Write the ack/resolve fields of ``updated`` and its action, in one transaction."""
    with ledger.session() as s:
        row = s.get(IncidentRow, updated.id)
        if row is None:
            raise LookupError(updated.id)
        row.acked_at, row.acked_by = _utc_or_none(updated.acked_at), updated.acked_by
        row.resolved_at = _utc_or_none(updated.resolved_at)
        row.resolved_by = updated.resolved_by
        row.cause, row.coverage = updated.cause, updated.coverage
        row.detail = dict(updated.detail)
        rec = _incident_action(updated, kind, actor, at)
        if note:
            rec = replace(rec, summary=f"{rec.summary} ({note})")
        add_action(s, rec)
    return updated


def add_bookings(ledger: Ledger, bookings: list[HourBooking]) -> list[int]:
    """Store bookings (one logical booking may be split package/billable) and their actions."""
    ids: list[int] = []
    with ledger.session() as s:
        for b in bookings:
            row = HourBookingRow(
                at=as_utc(b.at) if b.at else utcnow(),
                customer_id=b.customer_id,
                contract_id=b.contract_id,
                hours=b.hours,
                text=b.text,
                actor=b.actor,
                billable=b.billable,
                incident_id=b.incident_id,
                billing=b.billing.value,
                reason=b.reason,
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
            add_action(s, _booking_action(b, row.id))
    return ids


def _booking_action(b: HourBooking, booking_id: int) -> ActionRecord:
    return ActionRecord(
        kind="hours.book",
        customer_id=b.customer_id,
        contract_id=b.contract_id,
        summary=f"{b.hours:g} h {b.billing} ({b.reason or b.where}): {b.text}",
        actor=b.actor,
        outcome=b.billing.value,
        detail={
            "booking": booking_id,
            "hours": b.hours,
            "incident": b.incident_id,
            "billing": b.billing.value,
            "reason": b.reason,
        },
        at=b.at,
    )


def booked_hours(ledger: Ledger, contract_id: str) -> float:
    """Hours debited from the hour package ``contract_id`` (free work never is)."""
    q = select(func.coalesce(func.sum(HourBookingRow.hours), 0.0)).where(
        HourBookingRow.contract_id == contract_id,
        HourBookingRow.billable.is_(False),
        HourBookingRow.billing.is_(None) | (HourBookingRow.billing == Billing.PACKAGE.value),
    )
    with ledger.session() as s:
        return float(s.scalar(q) or 0.0)


def _billing(r: HourBookingRow) -> Billing:
    if r.billing:
        return Billing(r.billing)
    return Billing.BILLABLE if r.billable else Billing.PACKAGE


def _booking(r: HourBookingRow) -> HourBooking:
    return HourBooking(
        customer_id=r.customer_id,
        contract_id=r.contract_id,
        hours=r.hours,
        text=r.text,
        actor=r.actor,
        billing=_billing(r),
        incident_id=r.incident_id,
        at=_aware(r.at),
        id=r.id,
        reason=r.reason or "",
    )


def bookings(
    ledger: Ledger,
    customer_id: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[HourBooking]:
    """Bookings in time order (of one customer, or all), booked in [start, end)."""
    q = select(HourBookingRow).order_by(HourBookingRow.at, HourBookingRow.id)
    if customer_id:
        q = q.where(HourBookingRow.customer_id == customer_id)
    if start:
        q = q.where(HourBookingRow.at >= as_utc(start))
    if end:
        q = q.where(HourBookingRow.at < as_utc(end))
    with ledger.session() as s:
        return [_booking(r) for r in s.scalars(q)]


def incident_bookings(ledger: Ledger, incident_ids: list[int]) -> list[HourBooking]:
    """Every booking on these incidents, whenever it was booked."""
    if not incident_ids:
        return []
    q = (
        select(HourBookingRow)
        .where(HourBookingRow.incident_id.in_(incident_ids))
        .order_by(HourBookingRow.at, HourBookingRow.id)
    )
    with ledger.session() as s:
        return [_booking(r) for r in s.scalars(q)]
