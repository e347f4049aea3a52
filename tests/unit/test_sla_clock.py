"""Reaction deadlines in 24x7 and business hours; on-duty coverage gaps of the roster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.fleet import load_book
from orchestrator.model.window import merge_intervals as merge
from orchestrator.sla.clock import business_elapsed, reaction_deadline, subtract
from orchestrator.sla.coverage import gaps_for
from orchestrator.sla.terms import terms_for
from tests.conftest import DEMO_BOOK

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = ("mon-fri 08:00-18:00",)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_24x7_deadline_is_plain_hours() -> None:
    assert reaction_deadline(at(2026, 11, 27, 22, 0), 4, "24x7", OFFICE, BERLIN) == at(
        2026, 11, 28, 2, 0
    )


def test_business_deadline_skips_the_weekend() -> None:
    # Friday 16:00 + 8 business hours: 2 h on Friday, 6 h on Monday from 08:00
    assert reaction_deadline(at(2026, 11, 27, 16, 0), 8, "business", OFFICE, BERLIN) == at(
        2026, 11, 30, 14, 0
    )


def test_business_deadline_opened_at_night_starts_next_morning() -> None:
    assert reaction_deadline(at(2026, 11, 24, 23, 30), 4, "business", OFFICE, BERLIN) == at(
        2026, 11, 25, 12, 0
    )


def test_business_deadline_across_dst_change() -> None:
    # Saturday 2026-03-28, DST starts Sunday: Monday 08:00 CEST + 2 h
    got = reaction_deadline(at(2026, 3, 28, 12, 0), 2, "business", OFFICE, BERLIN)
    assert got == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert got.astimezone(UTC).hour == 8


def test_business_elapsed_counts_only_office_hours() -> None:
    spent = business_elapsed(
        at(2026, 11, 27, 17, 0), at(2026, 11, 30, 9, 30), "business", OFFICE, BERLIN
    )
    assert spent == timedelta(hours=2, minutes=30)


def test_merge_and_subtract() -> None:
    a, b = at(2026, 1, 5, 0, 0), at(2026, 1, 5, 10, 0)
    merged = merge([(a, a + timedelta(hours=2)), (a + timedelta(hours=1), a + timedelta(hours=3))])
    assert merged == [(a, a + timedelta(hours=3))]
    assert subtract([(a, b)], merged) == [(a + timedelta(hours=3), b)]


def test_roster_gap_monday_morning_for_24x7_sla() -> None:
    fleet = load_book(DEMO_BOOK)
    clinic = fleet.customer("clinic-nord")
    sla = next(k for k in clinic.contracts if k.kind == "sla")
    gaps = gaps_for(clinic, sla, fleet.technicians, at(2026, 11, 1, 0, 0), at(2026, 12, 1, 0, 0))  # type: ignore[arg-type]
    assert [(g.pattern, g.occurrences, g.hours) for g in gaps] == [("mon 00:00-07:00", 5, 35.0)]


def test_business_hours_sla_in_new_york_is_covered() -> None:
    fleet = load_book(DEMO_BOOK)
    harbor = fleet.customer("harbor")
    sla = next(k for k in harbor.contracts if k.kind == "sla")
    assert (
        gaps_for(harbor, sla, fleet.technicians, at(2026, 11, 1, 0, 0), at(2026, 12, 1, 0, 0)) == []
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("customer", "contract", "hours", "basis"),
    [
        ("clinic-nord", "clinic-nord-sla", 4.0, "24x7"),
        ("bergmann", "bergmann-sla", 8.0, "business"),
        ("isar", "isar-swm", 48.0, "24x7"),  # no SLA: 48 h default under maintenance
        ("fjord", None, 48.0, "24x7"),  # no contract at all
    ],
)
def test_terms_from_the_book(customer: str, contract: str | None, hours: float, basis: str) -> None:
    terms = terms_for(load_book(DEMO_BOOK).customer(customer), None, at(2026, 11, 25, 10, 0))
    assert (terms.contract, terms.reaction_hours, terms.basis) == (contract, hours, basis)
