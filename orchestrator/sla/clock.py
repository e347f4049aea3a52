"""PURE: reaction deadlines and time intervals in a contract's terms (24x7 or business hours).

No I/O, no clock reads: every function takes the moments it works on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from ..model import MaintenanceWindow
from ..model.window import Interval


def slot_intervals(
    slots: Sequence[str], tz: tzinfo, start: datetime, end: datetime
) -> list[Interval]:
    """Where the weekly ``slots`` (local to ``tz``) are open inside [start, end), merged
    (``openings`` already joins touching and overlapping slots; clipping keeps that)."""
    window = MaintenanceWindow(slots=tuple(slots))
    days = (end - start).days + 2
    clipped = (
        (max(s, start), min(e, end)) for s, e in window.openings(start, tz, days=days) if s < end
    )
    return [iv for iv in clipped if iv[0] < iv[1]]


def subtract(required: Sequence[Interval], covered: Sequence[Interval]) -> list[Interval]:
    """Parts of ``required`` not inside any of ``covered`` (both merged and sorted)."""
    gaps: list[Interval] = []
    for start, end in required:
        cursor = start
        for cs, ce in covered:
            if ce <= cursor or cs >= end:
                continue
            if cs > cursor:
                gaps.append((cursor, cs))
            cursor = max(cursor, ce)
        if cursor < end:
            gaps.append((cursor, end))
    return gaps


def reaction_deadline(
    opened: datetime,
    hours: float,
    basis: str,
    business_hours: Sequence[str],
    tz: tzinfo,
) -> datetime:
    """When a reaction is due: ``hours`` after ``opened``, counted around the clock
    (``24x7``) or only inside the contract's ``business_hours`` (local to ``tz``)."""
    remaining = timedelta(hours=hours)
    if basis == "24x7":
        return opened + remaining
    cursor = opened
    for _ in range(60):  # 60 × two weeks: ample for any reaction time the model allows
        horizon = cursor + timedelta(days=14)
        for start, end in slot_intervals(business_hours, tz, cursor, horizon):
            if end - start >= remaining:
                return start + remaining
            remaining -= end - start
        cursor = horizon
    raise ValueError(f"business hours {list(business_hours)} never add up to {hours:g} h")


def business_elapsed(
    start: datetime, end: datetime, basis: str, business_hours: Sequence[str], tz: tzinfo
) -> timedelta:
    """Time between ``start`` and ``end`` that counts on the contract's clock."""
    if end <= start:
        return timedelta(0)
    if basis == "24x7":
        return end - start
    return sum((e - s for s, e in slot_intervals(business_hours, tz, start, end)), timedelta(0))
