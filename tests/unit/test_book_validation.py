"""Each validation rule, with fixtures named by the outcome they must produce."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.errors import BookError
from orchestrator.fleet import load_book, validate_book
from tests.conftest import VALID_CUSTOMER, BookFactory


def _mutated(change: Any) -> dict[str, Any]:
    c = copy.deepcopy(VALID_CUSTOMER)
    change(c)
    return c


def _sys(c: dict[str, Any]) -> dict[str, Any]:
    system: dict[str, Any] = c["systems"][0]
    return system


def _second_customer(c: dict[str, Any]) -> dict[str, Any]:
    other = copy.deepcopy(c)
    other["id"] = "other"
    other["sites"][0]["subnet"] = "10.60.2.0/24"
    _sys(other)["hostname"] = "other-pbx"
    _sys(other)["address"] = "10.60.2.10"
    for i, p in enumerate(_sys(other)["phones"]):
        p["mac"] = f"00:0b:82:00:00:0{i}"
    for k in other["contracts"]:
        k["id"] = "other-" + k["id"]
    return other


def test_valid_book_has_no_findings(make_book: BookFactory) -> None:
    fleet, issues = validate_book(make_book(copy.deepcopy(VALID_CUSTOMER)))
    assert issues == []
    assert fleet is not None and [h.hostname for h in fleet.hosts()] == ["acme-pbx"]


def test_demo_book_is_valid() -> None:
    from tests.conftest import DEMO_BOOK

    fleet, issues = validate_book(DEMO_BOOK)
    assert issues == []
    assert fleet is not None and len(fleet.customers) >= 12


INVALID: dict[str, tuple[Any, str, str]] = {
    "unknown_site_reference": (
        lambda c: _sys(c).update(site="branch"),
        "systems[0].site",
        "unknown site 'branch'",
    ),
    "duplicate_extension_within_pbx": (
        lambda c: _sys(c)["phones"][1].update(extension="101"),
        "systems[0].phones[1].extension",
        "duplicate extension 101",
    ),
    "duplicate_mac_within_pbx": (
        lambda c: _sys(c)["phones"][1].update(mac="80-5e-c0-00-00-01"),
        "systems[0].phones[1].mac",
        "duplicate phone MAC",
    ),
    "malformed_mac": (
        lambda c: _sys(c)["phones"][0].update(mac="80:5E:C0:00:01"),
        "systems[0].phones[0].mac",
        "malformed MAC",
    ),
    "hardware_maintenance_without_sla": (
        lambda c: c["contracts"].pop(1),
        "contracts[1]",
        "only valid together with an SLA",
    ),
    "contract_ending_before_start": (
        lambda c: c["contracts"][0].update(end="2025-12-31"),
        "contracts[0]",
        "ends (2025-12-31) before it starts",
    ),
    "unparseable_window": (
        lambda c: _sys(c)["maintenance_window"].update(slots=["tuesday night"]),
        "systems[0].maintenance_window.slots",
        "cannot parse window 'tuesday night'",
    ),
    "unknown_weekday_in_window": (
        lambda c: _sys(c)["maintenance_window"].update(slots=["tue,thx 22:00-04:00"]),
        "systems[0].maintenance_window.slots",
        "unknown weekday 'thx'",
    ),
    "unknown_timezone": (
        lambda c: c.update(timezone="Europe/Atlantis"),
        "timezone",
        "unknown timezone 'Europe/Atlantis'",
    ),
    "negative_licence_count": (
        lambda c: _sys(c)["licences"][0].update(count=-1),
        "systems[0].licences[0].count",
        "greater than or equal to 0",
    ),
    "address_outside_site_subnet": (
        lambda c: _sys(c).update(address="10.61.1.10"),
        "systems[0].address",
        "outside site subnet",
    ),
    "unknown_contract_system": (
        lambda c: c["contracts"][0].update(systems=["ghost-pbx"]),
        "contracts[0].systems[0]",
        "unknown system 'ghost-pbx'",
    ),
    "unknown_key_typo": (
        lambda c: _sys(c).update(platfrom="asterisk"),
        "systems[0].platfrom",
        "unknown key 'platfrom'",
    ),
    "contact_without_email": (
        lambda c: c["contacts"][0].pop("email"),
        "contacts[0]",
        "missing required key 'email'",
    ),
    "virtual_pbx_without_hosting": (
        lambda c: _sys(c).update(deployment="virtual"),
        "systems[0].deployment",
        "without a hosting contract",
    ),
    "unknown_platform": (
        lambda c: _sys(c).update(platform="avaya"),
        "systems[0].platform",
        "'asterisk', 'freepbx' or '3cx'",
    ),
}


@pytest.mark.parametrize("outcome", list(INVALID))
def test_invalid_book_is_rejected_with_file_path_and_line(
    make_book: BookFactory, outcome: str
) -> None:
    change, path, message = INVALID[outcome]
    root = make_book(_mutated(change))
    _, issues = validate_book(root)
    matching = [i for i in issues if i.path == path and message in i.message]
    assert matching, f"expected {path}: {message!r}, got {[str(i) for i in issues]}"
    assert matching[0].file == "customers/acme.yml"
    assert matching[0].line is not None and matching[0].line > 1


def test_every_error_is_reported_at_once(make_book: BookFactory) -> None:
    def many(c: dict[str, Any]) -> None:
        c["timezone"] = "Mars/Olympus"
        _sys(c)["phones"][1]["extension"] = "101"
        c["contracts"][0]["end"] = "2020-01-01"

    with pytest.raises(BookError) as err:
        load_book(make_book(_mutated(many)))
    text = str(err.value)
    assert "Mars/Olympus" in text and "2020-01-01" in text
    assert "3 errors" in text or len(err.value.issues) >= 2


def test_duplicates_across_customers_are_rejected(make_book: BookFactory) -> None:
    base = copy.deepcopy(VALID_CUSTOMER)
    other = _second_customer(base)
    other["systems"][0]["hostname"] = "acme-pbx"
    other["systems"][0]["phones"][0]["mac"] = base["systems"][0]["phones"][0]["mac"]
    _, issues = validate_book(make_book(base, other))
    messages = [(i.file, i.message) for i in issues]
    assert any(
        f == "customers/other.yml" and "duplicate hostname 'acme-pbx'" in m for f, m in messages
    )
    assert any(f == "customers/other.yml" and "duplicate phone MAC" in m for f, m in messages)


def test_overlapping_site_subnets_are_rejected(make_book: BookFactory) -> None:
    base = copy.deepcopy(VALID_CUSTOMER)
    other = _second_customer(base)
    other["sites"][0]["subnet"] = "10.60.0.0/16"
    other["systems"][0]["address"] = "10.60.200.10"
    _, issues = validate_book(make_book(base, other))
    assert any("overlaps" in i.message and i.path.endswith("subnet") for i in issues), issues


def test_malformed_yaml_names_file_and_line(make_book: BookFactory) -> None:
    root = make_book(("broken", "id: broken\nname: [unclosed\ntimezone: UTC\n"))
    _, issues = validate_book(root)
    assert issues[0].file == "customers/broken.yml"
    assert issues[0].line is not None
    assert "not valid YAML" in issues[0].message


def test_customer_id_must_match_file_name(make_book: BookFactory) -> None:
    c = copy.deepcopy(VALID_CUSTOMER)
    root = make_book(("acme-old", __import__("yaml").safe_dump(c)))
    _, issues = validate_book(root)
    assert any("must match the file name 'acme-old'" in i.message for i in issues)


def test_missing_book_directory_is_a_clear_error(tmp_path: Any) -> None:
    _, issues = validate_book(tmp_path / "nope")
    assert "does not exist" in issues[0].message


def test_bad_release_entry_is_reported_with_its_path(make_book: BookFactory) -> None:
    root = make_book(
        copy.deepcopy(VALID_CUSTOMER),
        extra={
            "releases.yml": "releases:\n  - {id: r1, kind: pbx, platform: asterisk, version: '1'}\n"
            "  - {id: r3, kind: firmware}\n",
        },
    )
    _, issues = validate_book(root)
    assert [(i.file, i.path, i.line) for i in issues] == [("releases.yml", "releases[1]", 3)]


def test_duplicate_release_id_is_reported(make_book: BookFactory) -> None:
    root = make_book(
        copy.deepcopy(VALID_CUSTOMER),
        extra={
            "releases.yml": "releases:\n  - {id: r1, kind: pbx, platform: asterisk, version: '1'}\n"
            "  - {id: r1, kind: pbx, platform: asterisk, version: '2'}\n",
        },
    )
    _, issues = validate_book(root)
    assert [(i.file, i.path, i.message) for i in issues] == [
        ("releases.yml", "releases[1].id", "duplicate release id 'r1'")
    ]
