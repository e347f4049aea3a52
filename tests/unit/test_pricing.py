"""Pricing basis of the demo book against a table computed by hand from tariffs.yml."""

from __future__ import annotations

from datetime import date

import pytest

from orchestrator.fleet import load_book
from orchestrator.reports.pricing import monthly_totals, pricing
from tests.conftest import DEMO_BOOK

ON = date(2026, 11, 25)

# (customer, contract) -> (monthly, one-off), by hand:
#   user 1.20, trunk 4.50 per licence; hardware 12 %/year; SLA 4 h 0.90, 8 h 0.60, 24 h 0.35
#   per extension; hosting 4.50 per extension; hour 95.00
HAND = {
    ("clinic-nord", "clinic-nord-swm"): (120 * 1.20 + 2 * 4.50, 0.0),  # 153.00
    ("clinic-nord", "clinic-nord-sla"): (120 * 0.90, 0.0),  # 108.00 (4 h)
    ("clinic-nord", "clinic-nord-hwm"): (1890 * 0.12 / 12, 0.0),  # 18.90
    ("clinic-nord", "clinic-nord-hours"): (0.0, 40 * 95.0),  # 3800.00 one-off
    ("bergmann", "bergmann-host"): (8 * 4.50, 0.0),  # 36.00
    ("bergmann", "bergmann-sla"): (8 * 0.60, 0.0),  # 4.80 (8 h)
    ("bergmann", "bergmann-hours-2026"): (0.0, 10 * 95.0),  # 950.00
    ("harbor", "harbor-swm"): (15 * 1.20 + 2 * 4.50, 0.0),  # 27.00
    ("harbor", "harbor-sla"): (15 * 0.35, 0.0),  # 5.25 (24 h)
}
TOTALS = {"clinic-nord": 279.90, "bergmann": 40.80, "harbor": 32.25}


def test_three_customers_match_the_hand_table() -> None:
    fleet = load_book(DEMO_BOOK)
    chosen = [fleet.customer(c) for c in TOTALS]
    lines = pricing(chosen, fleet.tariffs, ON)
    got = {(x.customer, x.contract): (x.monthly, x.one_off) for x in lines}
    assert got.keys() == HAND.keys()
    for key, (monthly, one_off) in HAND.items():
        assert got[key] == (pytest.approx(monthly), pytest.approx(one_off)), key
    assert monthly_totals(lines) == pytest.approx(TOTALS)


def test_expired_contracts_are_not_priced() -> None:
    fleet = load_book(DEMO_BOOK)
    assert pricing([fleet.customer("eisenwerk")], fleet.tariffs, ON) == []


# A missing tariff is a book finding now (all at once, with lines), and pricing still
# refuses it: tests/unit/test_contract_rules.py.
