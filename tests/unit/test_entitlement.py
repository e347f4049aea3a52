"""The entitlement rule, including the boundary dates of contracts."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from orchestrator.model import Customer, entitlement, reaction_hours
from tests.conftest import VALID_CUSTOMER


def _customer(**system_changes: Any) -> Customer:
    data = copy.deepcopy(VALID_CUSTOMER)
    data["systems"][0].update(system_changes)
    return Customer.model_validate(data)


@pytest.mark.parametrize(
    ("day", "entitled"),
    [
        (date(2025, 12, 31), False),  # the day before the start
        (date(2026, 1, 1), True),  # start date is inside
        (date(2026, 6, 15), True),
        (date(2026, 12, 31), True),  # end date is inside
        (date(2027, 1, 1), False),  # the day after the end
    ],
)
def test_hardware_pbx_is_entitled_only_while_software_maintenance_is_active(
    day: date, entitled: bool
) -> None:
    c = _customer()
    ent = entitlement(c, c.systems[0], day)
    assert ent.entitled is entitled
    assert (ent.contract == "acme-swm") is entitled


def test_reason_names_the_expired_contract_and_its_end() -> None:
    c = _customer()
    ent = entitlement(c, c.systems[0], date(2027, 3, 1))
    assert ent.reason == "hardware PBX: software-maintenance contract acme-swm ended on 2026-12-31"


def test_reason_names_a_contract_that_has_not_started() -> None:
    c = _customer()
    ent = entitlement(c, c.systems[0], date(2025, 3, 1))
    assert "starts on 2026-01-01" in ent.reason


def test_hardware_pbx_without_contract_is_not_entitled() -> None:
    data = copy.deepcopy(VALID_CUSTOMER)
    data["contracts"] = []
    c = Customer.model_validate(data)
    ent = entitlement(c, c.systems[0], date(2026, 6, 1))
    assert not ent.entitled and ent.reason == "hardware PBX: no software-maintenance contract"


def test_virtual_pbx_is_entitled_by_its_hosting_package_not_by_software_maintenance() -> None:
    data = copy.deepcopy(VALID_CUSTOMER)
    data["systems"][0]["deployment"] = "virtual"
    data["contracts"] = [{"id": "acme-host", "kind": "hosting", "start": "2026-01-01"}]
    c = Customer.model_validate(data)
    ent = entitlement(c, c.systems[0], date(2030, 1, 1))
    assert (
        ent.entitled and ent.contract == "acme-host" and "included in hosting package" in ent.reason
    )


def test_contract_scoped_to_another_system_does_not_entitle() -> None:
    data = copy.deepcopy(VALID_CUSTOMER)
    data["contracts"][0]["systems"] = ["some-other-pbx"]
    c = Customer.model_validate(data)
    assert not entitlement(c, c.systems[0], date(2026, 6, 1)).entitled


def test_reaction_time_is_the_slas_or_48_hours_without_one() -> None:
    c = _customer()
    assert reaction_hours(c, "acme-pbx", date(2026, 6, 1)) == 4
    assert reaction_hours(c, "acme-pbx", date(2027, 6, 1)) == 48


def _renewal(start: str, end: str | None) -> Customer:
    """acme-swm ended 2026-12-31; a renewal ``start``..``end`` follows after a gap."""
    data = copy.deepcopy(VALID_CUSTOMER)
    data["contracts"].append(
        {"id": "acme-swm-2", "kind": "software_maintenance", "start": start, "end": end}
    )
    return Customer.model_validate(data)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        ("2028-12-31", "acme-swm ended on 2026-12-31; acme-swm-2 starts on 2027-03-01"),
        (None, "acme-swm ended on 2026-12-31; acme-swm-2 starts on 2027-03-01"),
    ],
)
def test_a_later_contract_is_reported_as_starting_not_as_ended(
    end: str | None, expected: str
) -> None:
    c = _renewal("2027-03-01", end)
    ent = entitlement(c, c.systems[0], date(2027, 2, 1))
    assert not ent.entitled
    assert ent.reason == f"hardware PBX: software-maintenance contract {expected}"
    assert "None" not in ent.reason


def test_only_a_future_contract_starts_on_its_date() -> None:
    data = copy.deepcopy(VALID_CUSTOMER)
    data["contracts"][0].update(start="2027-01-01", end=None)
    c = Customer.model_validate(data)
    ent = entitlement(c, c.systems[0], date(2026, 6, 1))
    assert ent.reason == "hardware PBX: software-maintenance contract acme-swm starts on 2027-01-01"
