"""PURE: where an SLA customer's reaction clock runs while no technician is on duty."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from ..model import Customer, Sla, Technician
from ..model.window import Interval, merge_intervals
from .clock import slot_intervals, subtract

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CoverageGap:
    """Recurring stretch (in the customer's local time) the roster leaves uncovered."""

    customer: str
    contract: str
    pattern: str  # e.g. "mon 00:00-07:00"
    occurrences: int
    hours: float  # total uncovered hours in the period


def on_duty(roster: Sequence[Technician], start: datetime, end: datetime) -> list[Interval]:
    """The union of every technician's on-duty hours inside [start, end)."""
    spans: list[Interval] = []
    for tech in roster:
        if tech.on_duty:
            spans += slot_intervals(tech.on_duty, ZoneInfo(tech.timezone), start, end)
    return merge_intervals(spans)


def required(sla: Sla, tz: tzinfo, start: datetime, end: datetime) -> list[Interval]:
    """When the SLA's reaction clock runs inside [start, end)."""
    if sla.hours_basis == "24x7":
        return [(start, end)]
    return slot_intervals(sla.business_hours, tz, start, end)


def _pattern(gap: Interval, tz: tzinfo) -> str:
    s, e = gap[0].astimezone(tz), gap[1].astimezone(tz)
    until = f"{e:%H:%M}"
    if e.date() != s.date():
        midnight = e.date() == s.date() + timedelta(days=1) and until == "00:00"
        until = "24:00" if midnight else f"{_day(e)} {until}"
    return f"{_day(s)} {s:%H:%M}-{until}"


def _day(moment: datetime) -> str:
    return DAY_NAMES[moment.weekday()]


def gaps_for(
    customer: Customer,
    sla: Sla,
    roster: Sequence[Technician],
    start: datetime,
    end: datetime,
) -> list[CoverageGap]:
    """Recurring uncovered stretches of ``sla`` between ``start`` and ``end``."""
    lo, hi = max(start, _at(sla.start, customer.tz)), end
    if sla.end is not None:
        hi = min(hi, _at(sla.end, customer.tz, next_day=True))
    if lo >= hi:
        return []
    holes = subtract(required(sla, customer.tz, lo, hi), on_duty(roster, lo, hi))
    counts: Counter[str] = Counter()
    hours: dict[str, float] = {}
    for gap in holes:
        key = _pattern(gap, customer.tz)
        counts[key] += 1
        hours[key] = hours.get(key, 0.0) + (gap[1] - gap[0]).total_seconds() / 3600
    return [
        CoverageGap(customer.id, sla.id, key, counts[key], round(hours[key], 2))
        for key in sorted(counts, key=lambda k: (DAY_NAMES.index(k[:3]), k))
    ]


def _at(day: date, tz: tzinfo, next_day: bool = False) -> datetime:
    moment = datetime.combine(day, time(0, 0), tzinfo=tz)
    return moment + timedelta(days=1) if next_day else moment
