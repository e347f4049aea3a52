"""``sla report``: reaction times met or missed per customer and period, who pays for the
work on each incident (free, package, billable, and why), and where the technician roster
leaves an SLA customer's reaction clock uncovered."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import RefusedError
from ..fleet import Fleet
from ..ledger import Ledger
from ..ledger import sla as store
from ..ledger.sla import HourBooking, Incident
from ..model import Sla
from ..model.billing import Billing
from .clock import business_elapsed
from .coverage import CoverageGap, gaps_for
from .terms import DEFAULT_BUSINESS_HOURS


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC midnight
    end: datetime  # exclusive
    label: str


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def _named(text: str) -> tuple[date, date] | None:
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            return None
        return date(year, month, 1), _month_end(year, month)
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        return date(year, 3 * q - 2, 1), _month_end(year, 3 * q)
    if m := _YEAR.match(text):
        return date(int(m[1]), 1, 1), date(int(m[1]) + 1, 1, 1)
    return None


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)  # what a report may cover


def _in_range(day: date, option: str) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RefusedError(f"{option} {day}: outside {FIRST_DAY}..{LAST_DAY}")
    return day


def parse_period(period: str | None, start: date | None, end: date | None, today: date) -> Period:
    """``--period 2026-11|2026-Q4|2026`` or ``--from/--to`` (``--to`` inclusive); default:
    the current month. Unknown or empty periods are refused."""
    if period and (start or end):
        raise RefusedError("give --period or --from/--to, not both")
    if period:
        try:
            named = _named(period.strip())
        except ValueError:  # year 0 or past 9999
            raise RefusedError(f"--period {period}: outside {FIRST_DAY}..{LAST_DAY}") from None
        if named is None:
            raise RefusedError(f"unknown period {period!r}: use YYYY-MM, YYYY-Qn or YYYY")
        _in_range(named[0], "--period")
        return Period(_utc(named[0]), _utc(named[1]), period.strip())
    if start or end:
        lo = _in_range(start, "--from") if start else date(today.year, today.month, 1)
        hi = _in_range(end, "--to") if end else today
        if hi < lo:
            raise RefusedError(f"period ends ({hi}) before it starts ({lo})")
        return Period(_utc(lo), _utc(hi + timedelta(days=1)), f"{lo}..{hi}")
    lo, hi = date(today.year, today.month, 1), _month_end(today.year, today.month)
    return Period(_utc(lo), _utc(hi), f"{lo:%Y-%m}")


@dataclass(frozen=True)
class IncidentRow:
    ticket: str
    customer: str
    contract: str | None
    host: str | None
    title: str
    opened: datetime
    deadline: datetime
    acked: datetime | None
    reaction_hours: float | None  # on the contract's clock
    status: str  # met | missed | pending | overdue
    cause: str | None = None
    billing: str | None = None  # the resolve verdict: free | package | billable
    coverage: str | None = None  # the verdict's reason
    hours: dict[str, float] = field(default_factory=dict)  # booked on it, per billing


@dataclass(frozen=True)
class CustomerSummary:
    customer: str
    incidents: int
    met: int
    missed: int
    pending: int
    hours: dict[str, float] = field(default_factory=dict)  # booked in the period, per billing


@dataclass(frozen=True)
class SlaReport:
    period: Period
    rows: tuple[IncidentRow, ...]
    summary: tuple[CustomerSummary, ...]
    gaps: tuple[CoverageGap, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {
                "from": self.period.start,
                "to": self.period.end,
                "label": self.period.label,
            },
            "incidents": [asdict(r) for r in self.rows],
            "summary": [asdict(s) for s in self.summary],
            "coverage_gaps": [asdict(g) for g in self.gaps],
        }


def _status(inc: Incident, now: datetime) -> str:
    if inc.acked_at is not None:
        return "met" if inc.acked_at <= inc.deadline else "missed"
    return "pending" if now <= inc.deadline else "overdue"


def hours_by_billing(bookings: list[HourBooking]) -> dict[str, float]:
    """Hours per billing verdict, every verdict present (0 when none)."""
    out = {b.value: 0.0 for b in Billing}
    for b in bookings:
        out[b.billing.value] = round(out[b.billing.value] + b.hours, 2)
    return out


def _row(fleet: Fleet, inc: Incident, now: datetime, booked: list[HourBooking]) -> IncidentRow:
    reaction = None
    if inc.acked_at is not None:
        customer = fleet.customer(inc.customer_id)
        hours = _business_hours(customer.contracts, inc.contract_id)
        spent = business_elapsed(inc.opened_at, inc.acked_at, inc.hours_basis, hours, customer.tz)
        reaction = round(spent.total_seconds() / 3600, 2)
    return IncidentRow(
        inc.ticket,
        inc.customer_id,
        inc.contract_id,
        inc.host,
        inc.title,
        inc.opened_at,
        inc.deadline,
        inc.acked_at,
        reaction,
        _status(inc, now),
        inc.cause,
        inc.detail.get("billing"),
        inc.coverage,
        hours_by_billing([b for b in booked if b.incident_id == inc.id]),
    )


def _business_hours(contracts: tuple[Any, ...], contract_id: str | None) -> tuple[str, ...]:
    for k in contracts:
        if isinstance(k, Sla) and k.id == contract_id:
            return k.business_hours
    return DEFAULT_BUSINESS_HOURS


def _summaries(rows: list[IncidentRow], booked: list[HourBooking]) -> tuple[CustomerSummary, ...]:
    out = []
    for cid in sorted({r.customer for r in rows} | {b.customer_id for b in booked}):
        mine = [r.status for r in rows if r.customer == cid]
        out.append(
            CustomerSummary(
                cid,
                len(mine),
                mine.count("met"),
                mine.count("missed") + mine.count("overdue"),
                mine.count("pending"),
                hours_by_billing([b for b in booked if b.customer_id == cid]),
            )
        )
    return tuple(out)


def _gaps(fleet: Fleet, customer_id: str | None, period: Period) -> list[CoverageGap]:
    out: list[CoverageGap] = []
    for customer in fleet.customers:
        if customer_id and customer.id != customer_id:
            continue
        for k in customer.contracts:
            if isinstance(k, Sla):
                out += gaps_for(customer, k, fleet.technicians, period.start, period.end)
    return out


def sla_report(
    fleet: Fleet, ledger: Ledger, period: Period, now: datetime, customer_id: str | None = None
) -> SlaReport:
    if customer_id:
        fleet.customer(customer_id)
    found = store.incidents(ledger, customer_id, period.start, period.end)
    on_incidents = store.incident_bookings(ledger, [i.id for i in found if i.id is not None])
    rows = [_row(fleet, inc, now, on_incidents) for inc in found]
    in_period = store.bookings(ledger, customer_id, period.start, period.end)
    return SlaReport(
        period,
        tuple(rows),
        _summaries(rows, in_period),
        tuple(_gaps(fleet, customer_id, period)),
    )
