"""Maintenance windows in the customer's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from orchestrator.model import MaintenanceWindow, parse_slot

BERLIN = ZoneInfo("Europe/Berlin")


def test_slot_over_midnight_ends_next_day() -> None:
    slot = parse_slot("sat 22:00-04:00")
    assert (
        slot.days == frozenset({5}) and slot.start == time(22) and slot.length.seconds == 6 * 3600
    )


def test_day_ranges_wrap_the_week() -> None:
    assert parse_slot("fri-mon 01:00-02:00").days == frozenset({4, 5, 6, 0})


def test_whole_day_slot() -> None:
    assert parse_slot("mon-sun 00:00-24:00").length.days == 1


@pytest.mark.parametrize(
    "text", ["tuesday 22:00-04:00", "tue 25:00-04:00", "tue 22:00-22:00", "tue 2200-0400"]
)
def test_unparseable_slots_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_slot(text)


def test_openings_are_in_the_customers_timezone() -> None:
    w = MaintenanceWindow(slots=("tue 22:00-04:00",))
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # a Tuesday
    start, end = w.openings(after, BERLIN)[0]
    assert start.astimezone(UTC) == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_exception_date_cancels_the_opening_that_starts_that_day() -> None:
    w = MaintenanceWindow(slots=("tue 22:00-04:00",), exceptions=(date(2026, 11, 24),))
    start, _ = w.openings(datetime(2026, 11, 24, 12, 0, tzinfo=UTC), BERLIN)[0]
    assert start.date() == date(2026, 12, 1)


def test_open_at_inside_and_outside() -> None:
    w = MaintenanceWindow(slots=("tue 22:00-04:00",))
    inside = datetime(2026, 11, 25, 2, 0, tzinfo=BERLIN)  # Wednesday 02:00, still Tuesday's slot
    outside = datetime(2026, 11, 25, 5, 0, tzinfo=BERLIN)
    assert w.open_at(inside, BERLIN) is not None
    assert w.open_at(outside, BERLIN) is None
