"""Maintenance windows in the customer's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.model import MaintenanceWindow, parse_slot
from orchestrator.planner import window_decision

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


def test_slots_that_touch_are_one_opening() -> None:
    w = MaintenanceWindow(slots=("fri 22:00-24:00", "sat 00:00-06:00", "sat 05:00-07:00"))
    after = datetime(2026, 11, 27, 12, 0, tzinfo=BERLIN)  # a Friday
    start, end = w.openings(after, BERLIN, days=2)[0]
    assert (start, end) == (datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN),
                            datetime(2026, 11, 28, 7, 0, tzinfo=BERLIN))


def test_an_always_open_window_does_not_close_at_midnight() -> None:
    """At 23:50 a whole-day slot has 10 minutes left of *that day*; the next day's slot
    follows without a gap, so a host may still start (it once waited for 00:00)."""
    w = MaintenanceWindow(slots=("mon-sun 00:00-24:00",))
    late = datetime(2026, 11, 25, 23, 50, tzinfo=BERLIN)
    decision = window_decision(w, BERLIN, late, timedelta(minutes=15))
    assert decision.action == "start" and decision.closes is not None
    assert decision.closes - late > timedelta(days=7)
    # an exception date is a real gap: the opening ends where it starts
    gap = MaintenanceWindow(slots=("mon-sun 00:00-24:00",), exceptions=(date(2026, 11, 26),))
    decision = window_decision(gap, BERLIN, late, timedelta(minutes=15))
    assert decision.action == "wait" and decision.at == datetime(2026, 11, 27, tzinfo=BERLIN)
