"""Maintenance windows: weekday/time slots in the customer's timezone, with exception dates.

A slot is written ``"<days> <HH:MM>-<HH:MM>"``, days as ``mon``, ``mon-fri`` or ``tue,thu``;
an end before the start means the slot runs past midnight (``sat 22:00-04:00`` ends on
Sunday 04:00). An exception date cancels every slot that *starts* on that local date.

Slots are local wall-clock times. On a spring-forward night the skipped stretch does not
exist: a slot starting inside it opens when the clock jumps (``sun 02:00-04:00`` in
Europe/Berlin on 2027-03-28 opens at 03:00+02:00), one lying entirely inside it does not
open that night. On a fall-back night a time that occurs twice means its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from pydantic import field_validator

from .base import Frozen

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SLOT = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


Interval = tuple[datetime, datetime]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of ``intervals`` (touching ones are joined)."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


@dataclass(frozen=True)
class Slot:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # ``24:00`` is stored as 00:00; start == end means a whole day

    @property
    def length(self) -> timedelta:
        s = timedelta(hours=self.start.hour, minutes=self.start.minute)
        e = timedelta(hours=self.end.hour, minutes=self.end.minute)
        return e - s if e > s else e - s + timedelta(days=1)


def local_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The first moment (UTC) at which the clock in ``tz`` shows the naive ``wall`` time or
    later: that time itself when it exists (its first occurrence on a fall-back night), the
    moment the clock jumps past it when a spring-forward night skips it."""
    moment = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(moment, tz) == wall:
        return moment
    # skipped: the clock shows an earlier time at the fold=1 reading and a later one at
    # fold=0's; find the jump between them to the second
    low = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    high = int(moment.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), tz) >= wall:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first), _day(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(_day(part))
    return frozenset(days)


def _day(name: str) -> int:
    if name not in DAYS:
        raise ValueError(f"unknown weekday {name!r} (use {', '.join(DAYS)})")
    return DAYS.index(name)


def _time(text: str) -> time:
    hh, mm = (int(x) for x in text.split(":"))
    if hh == 24 and mm == 0:
        return time(0, 0)
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise ValueError(f"invalid time {text!r}")
    return time(hh, mm)


@lru_cache(maxsize=4096)
def parse_slot(text: str) -> Slot:
    """Parse one slot; raise ValueError with a message a user can act on. Cached: a large
    book repeats the same few slot texts thousands of times."""
    m = _SLOT.match(text.strip().lower())
    if not m:
        raise ValueError(f"cannot parse window {text!r}: expected e.g. 'tue,thu 22:00-04:00'")
    start, end = _time(m["start"]), _time(m["end"])
    if start == end and m["end"] != "24:00":
        raise ValueError(f"window {text!r} has zero length")
    return Slot(_parse_days(m["days"]), start, end)


class MaintenanceWindow(Frozen):
    """When a system may be touched, in its customer's timezone."""

    slots: tuple[str, ...]
    exceptions: tuple[date, ...] = ()

    @field_validator("slots")
    @classmethod
    def _slots_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a maintenance window needs at least one slot")
        for text in value:
            parse_slot(text)
        return value

    def parsed(self) -> tuple[Slot, ...]:
        return tuple(parse_slot(s) for s in self.slots)

    def openings(
        self, after: datetime, tz: tzinfo, days: int = 14
    ) -> list[tuple[datetime, datetime]]:
        """Every (start, end) opening, as aware datetimes, that ends after ``after``,
        starting within ``days`` days; exception dates skipped. Sorted by start. Slots that
        touch or overlap form one opening: ``mon-sun 00:00-24:00`` never closes at midnight,
        nor does ``fri 22:00-24:00`` followed by ``sat 00:00-06:00``. Computed in UTC (real
        time) and returned in ``tz`` with the offset in force at each moment; a clock change
        shortens or drops an opening as the module docstring says."""
        local = after.astimezone(tz)
        out: list[tuple[datetime, datetime]] = []
        slots = self.parsed()
        for offset in range(-1, days + 1):
            day = local.date() + timedelta(days=offset)
            if day in self.exceptions:
                continue
            for slot in slots:
                if day.weekday() in slot.days:
                    wall = datetime.combine(day, slot.start)
                    start = local_instant(wall, tz)
                    end = local_instant(wall + slot.length, tz)
                    if start < end and end > after:
                        out.append((start, end))
        return [(s.astimezone(tz), e.astimezone(tz)) for s, e in merge_intervals(out)]

    def open_at(self, moment: datetime, tz: tzinfo) -> tuple[datetime, datetime] | None:
        """The opening containing ``moment``, if any."""
        for start, end in self.openings(moment, tz, days=1):
            if start <= moment < end:
                return start, end
        return None


def window_from_yaml(data: Any) -> Any:
    """Accept a bare list of slots as shorthand for ``{slots: [...]}``."""
    if isinstance(data, list | str):
        return {"slots": [data] if isinstance(data, str) else data}
    return data
