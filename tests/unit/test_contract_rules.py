"""Contract rules `fleet validate` enforces beyond the schema: hardware maintenance needs an
SLA per covered system over its whole period, nothing virtual is maintained twice, and
every price the book needs is in tariffs.yml. Fixtures are named by the outcome."""

from __future__ import annotations

import copy
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import BookIssue, ConfigError
from orchestrator.fleet import validate_book
from orchestrator.model import SoftwareMaintenance
from orchestrator.model.contract import uncovered
from orchestrator.reports.pricing import pricing
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER, BookFactory


def _k(start: str, end: str | None, n: int = 0) -> SoftwareMaintenance:
    return SoftwareMaintenance.model_validate(
        {"id": f"k{n}", "kind": "software_maintenance", "start": start, "end": end}
    )


D = date.fromisoformat


@pytest.mark.parametrize(
    ("cover", "end", "gaps"),
    [
        ([_k("2026-01-01", "2026-12-31")], "2026-12-31", []),
        # back-to-back renewals cover together
        ([_k("2026-01-01", "2026-06-30"), _k("2026-07-01", "2026-12-31", 1)], "2026-12-31", []),
        # a month between them does not
        (
            [_k("2026-01-01", "2026-06-30"), _k("2026-08-01", "2026-12-31", 1)],
            "2026-12-31",
            [(D("2026-07-01"), D("2026-07-31"))],
        ),
        # open-ended period: only an open-ended contract covers its tail
        ([_k("2026-01-01", "2027-12-31")], None, [(D("2028-01-01"), None)]),
        ([_k("2025-01-01", "2026-03-31"), _k("2026-04-01", None, 1)], None, []),
        ([], "2026-12-31", [(D("2026-01-01"), D("2026-12-31"))]),
        ([_k("2026-02-01", None)], "2026-12-31", [(D("2026-01-01"), D("2026-01-31"))]),
    ],
)
def test_uncovered_stretches(
    cover: list[SoftwareMaintenance], end: str | None, gaps: list[tuple[date, date | None]]
) -> None:
    assert uncovered(D("2026-01-01"), D(end) if end else None, cover) == gaps


def _two_systems() -> dict[str, Any]:
    """acme with acme-pbx and acme-pbx2 (both hardware), SWM, SLA and HWM on both."""
    c = copy.deepcopy(VALID_CUSTOMER)
    second = copy.deepcopy(c["systems"][0])
    second.update(hostname="acme-pbx2", address="10.60.1.11", phones=[])
    c["systems"].append(second)
    return c


def _contract(c: dict[str, Any], cid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(k for k in c["contracts"] if k["id"] == cid)
    return found


def _issues(make_book: BookFactory, c: dict[str, Any], **extra: str) -> list[BookIssue]:
    _, issues = validate_book(make_book(c, extra=extra or None))
    return issues


def test_back_to_back_sla_renewals_cover_hardware_maintenance(make_book: BookFactory) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    _contract(c, "acme-sla").update(end="2026-06-30")
    c["contracts"].append({**_contract(c, "acme-sla"), "id": "acme-sla-h2"})
    _contract(c, "acme-sla-h2").update(start="2026-07-01", end="2026-12-31")
    assert _issues(make_book, c) == []


def test_sla_gap_under_hardware_maintenance_is_named(make_book: BookFactory) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    _contract(c, "acme-sla").update(end="2026-06-30")
    issues = _issues(make_book, c)
    assert [(i.path, i.message) for i in issues] == [
        (
            "contracts[2]",
            "hardware maintenance acme-hwm is only valid together with an SLA: "
            "no SLA covers acme-pbx from 2026-07-01 to 2026-12-31",
        )
    ]
    assert issues[0].line is not None


def test_sla_on_one_system_does_not_cover_hardware_maintenance_of_another(
    make_book: BookFactory,
) -> None:
    c = _two_systems()
    _contract(c, "acme-sla").update(systems=["acme-pbx"])
    messages = [i.message for i in _issues(make_book, c)]
    assert messages == [
        "hardware maintenance acme-hwm is only valid together with an SLA: "
        "no SLA covers acme-pbx2 from 2026-01-01 to 2026-12-31"
    ]


def test_virtual_pbx_maintained_twice_is_flagged(make_book: BookFactory) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["systems"][0]["deployment"] = "virtual"
    c["contracts"].append(
        {"id": "acme-host", "kind": "hosting", "start": "2026-01-01", "end": "2026-12-31"}
    )
    found = {i.path: i.message for i in _issues(make_book, c)}
    assert found.keys() == {"contracts[0]", "contracts[2]"}
    assert "software-maintenance contract acme-swm covers virtual PBX acme-pbx" in (
        found["contracts[0]"]
    )
    assert "billed twice" in found["contracts[0]"]
    assert "hardware-maintenance contract acme-hwm covers virtual PBX acme-pbx" in (
        found["contracts[2]"]
    )


TARIFFS = """\
software_per_licence: {user: 1.20}
sla_rates:
  - {reaction_hours: 4, per_extension: 0.90}
  - {reaction_hours: 8, per_extension: 0.60}
"""


def test_every_pricing_gap_is_reported_at_once_with_lines(make_book: BookFactory) -> None:
    c = _two_systems()
    c["systems"][0]["licences"].append({"kind": "trunk", "count": 2})
    c["systems"][1]["licences"] = [{"kind": "fax", "count": 1}]
    slow = {**_contract(c, "acme-sla"), "id": "acme-sla-slow", "reaction_hours": 24}
    c["contracts"].append(slow)
    issues = _issues(make_book, c, **{"tariffs.yml": TARIFFS})
    assert [(i.path, i.message) for i in issues] == [
        (
            "systems[0].licences[1].kind",
            "tariffs.yml has no software_per_licence price for licence kind 'trunk' "
            "(contract acme-swm is priced on it)",
        ),
        (
            "systems[1].licences[0].kind",
            "tariffs.yml has no software_per_licence price for licence kind 'fax' "
            "(contract acme-swm is priced on it)",
        ),
        (
            "contracts[3].reaction_hours",
            "tariffs.yml has no sla_rates entry for 24 h reaction "
            "(SLA acme-sla-slow; the slowest rate is for 8 h)",
        ),
    ]
    assert all(i.file == "customers/acme.yml" and i.line for i in issues)


def test_pricing_still_refuses_a_book_it_cannot_price(tmp_path: Path) -> None:
    book = tmp_path / "book"
    shutil.copytree(DEMO_BOOK, book)
    tariffs = (book / "tariffs.yml").read_text().replace("  trunk: 4.50\n", "")
    (book / "tariffs.yml").write_text(tariffs)
    fleet, issues = validate_book(book)
    trunk = [i for i in issues if "licence kind 'trunk'" in i.message]
    # every customer under software maintenance with trunk licences, each in its own file
    assert {i.file for i in trunk} >= {"customers/clinic-nord.yml", "customers/harbor.yml"}
    assert fleet is not None
    with pytest.raises(ConfigError, match=r"licence kind 'trunk'.*clinic-nord"):
        pricing([fleet.customer("clinic-nord")], fleet.tariffs, date(2026, 11, 25))
