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


# --- clock changes (issue 16, rule 5): Europe/Berlin springs forward on 2027-03-28 --------

SPRING_EVE = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # Saturday before the change
FALL_EVE = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)  # Saturday before the change back


def _first(slot: str, after: datetime = SPRING_EVE) -> tuple[datetime, datetime]:
    return MaintenanceWindow(slots=(slot,)).openings(after, BERLIN, days=1)[0]


def test_spring_forward_opening_starts_at_the_existing_local_time() -> None:
    """02:00 does not exist that night: the opening is shown as 03:00+02:00 (the moment the
    clock jumps), never as the non-existent 02:00+01:00."""
    start, end = _first("sun 02:00-04:00")
    assert start.isoformat() == "2027-03-28T03:00:00+02:00"
    assert end.isoformat() == "2027-03-28T04:00:00+02:00"
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=1)


def test_a_window_inside_the_skipped_hour_does_not_open_that_night() -> None:
    """02:15-02:45 is never shown by the clock on 2027-03-28: no opening that night (it was
    planned at 03:15-03:45, outside the agreed local window); the next Sunday's stays."""
    w = MaintenanceWindow(slots=("sun 02:15-02:45",))
    openings = w.openings(SPRING_EVE, BERLIN, days=8)
    assert [s.isoformat() for s, _ in openings] == ["2027-04-04T02:15:00+02:00"]


def test_a_window_ending_in_the_skipped_hour_ends_at_the_jump() -> None:
    start, end = _first("sun 01:30-02:30")
    assert (start.isoformat(), end.isoformat()) == (
        "2027-03-28T01:30:00+01:00", "2027-03-28T03:00:00+02:00")


def test_a_window_starting_in_the_skipped_hour_opens_at_the_jump() -> None:
    start, end = _first("sun 02:30-03:30")
    assert (start.isoformat(), end.isoformat()) == (
        "2027-03-28T03:00:00+02:00", "2027-03-28T03:30:00+02:00")


def test_fall_back_opening_starts_at_the_first_occurrence() -> None:
    """02:00-03:00 happens twice on 2027-10-31: the opening spans both (two real hours)."""
    start, end = _first("sun 02:00-03:00", FALL_EVE)
    assert (start.isoformat(), end.isoformat()) == (
        "2027-10-31T02:00:00+02:00", "2027-10-31T03:00:00+01:00")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)


def test_a_short_opening_is_not_waited_for() -> None:
    """An opening shorter than the run needs is skipped by the gate: a host waits for the
    next one long enough (it waited for the 10-minute one, to wait again there)."""
    w = MaintenanceWindow(slots=("wed 22:00-22:10", "thu 22:00-23:00"))
    d = window_decision(w, BERLIN, datetime(2026, 11, 25, 12, tzinfo=BERLIN), timedelta(minutes=15))
    assert d.action == "wait" and d.at == datetime(2026, 11, 26, 22, tzinfo=BERLIN)


def test_skipped_hour_leaves_too_little_of_a_window_to_start() -> None:
    """sun 02:00-03:10 keeps 10 real minutes on 2027-03-28: not enough to start a host."""
    w = MaintenanceWindow(slots=("sun 02:00-03:10",))
    d = window_decision(w, BERLIN, SPRING_EVE, timedelta(minutes=15), horizon_days=8)
    assert d.action == "wait" and d.at == datetime(2027, 4, 4, 2, tzinfo=BERLIN)
