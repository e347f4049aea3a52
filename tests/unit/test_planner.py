"""The wave planner is a pure function of (book, release, time, options): tested without a lab."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.fleet import Fleet, load_book
from orchestrator.model import MaintenanceWindow
from orchestrator.planner import PlanOptions, WavePlan, plan_wave, window_decision
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER, BookFactory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def _customer(
    n: int,
    *,
    sla_hours: float | None = None,
    deployment: str = "hardware",
    swm_end: str = "2027-12-31",
    slots: tuple[str, ...] = ("mon-sun 22:00-04:00",),
    exceptions: tuple[str, ...] = (),
    timezone: str = "Europe/Berlin",
    platform: str = "asterisk",
    os_release: str = "12",
    internal: bool = False,
) -> dict[str, Any]:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["id"] = f"c{n:02d}"
    c["name"] = f"Customer {n}"
    c["timezone"] = timezone
    c["sites"] = [{"id": "hq", "subnet": f"10.60.{n}.0/24"}]
    system = c["systems"][0]
    system.update(
        hostname=f"pbx-{n:02d}",
        address=f"10.60.{n}.10",
        platform=platform,
        deployment=deployment,
        os_release=os_release,
        internal=internal,
        maintenance_window={"slots": list(slots), "exceptions": list(exceptions)},
        phones=[],
    )
    if platform != "asterisk":
        system.pop("pbx_profile")  # labpbx stands in for asterisk only
    if deployment == "virtual":
        system.pop("hardware", None)
        contracts: list[dict[str, Any]] = [
            {"id": f"c{n:02d}-host", "kind": "hosting", "start": "2025-01-01"}
        ]
    else:
        contracts = [
            {
                "id": f"c{n:02d}-swm",
                "kind": "software_maintenance",
                "start": "2025-01-01",
                "end": swm_end,
            }
        ]
    if sla_hours is not None:
        contracts.append(
            {
                "id": f"c{n:02d}-sla",
                "kind": "sla",
                "tier": "gold",
                "reaction_hours": sla_hours,
                "start": "2025-01-01",
                "end": "2027-12-31",
            }
        )
    c["contracts"] = contracts
    return c


def _fleet(make_book: BookFactory, *customers: dict[str, Any]) -> Fleet:
    releases = (DEMO_BOOK / "releases.yml").read_text()
    return load_book(make_book(*customers, extra={"releases.yml": releases}))


def _plan(fleet: Fleet, release: str = "pbx-18.1", now: datetime = NOW, **options: Any) -> WavePlan:
    rel = fleet.catalog.release(release)
    assert rel is not None
    return plan_wave(fleet, rel, now, PlanOptions(**options))


def _names(plan: WavePlan) -> list[list[str]]:
    return [[h.hostname for h in b.hosts] for b in plan.batches]


# --- the demo book, as the README shows it ------------------------------------------------


def test_demo_book_plan_matches_entitlement_platform_and_os() -> None:
    plan = _plan(load_book(DEMO_BOOK))
    planned = {h.hostname for h in plan.hosts}
    excluded = {e.hostname: e.reason for e in plan.excluded}
    assert "eisenwerk-pbx" in excluded and "ended on 2026-06-30" in excluded["eisenwerk-pbx"]
    assert excluded["isar-pbx"] == "platform freepbx, release is for asterisk"
    assert excluded["roth-pbx"] == "OS 11 below the release's minimum 12"
    assert planned.isdisjoint(excluded)
    assert plan.batches[0].name == "canary"
    assert [h.hostname for h in plan.batches[0].hosts] == ["lab-pbx"]
    assert plan.target == "18.1.0" and plan.kind == "pbx"


def test_a_release_that_does_not_pin_the_systems_pbx_package_excludes_it(
    make_book: BookFactory,
) -> None:
    real = _customer(1)
    real["systems"][0].pop("pbx_profile")  # real Asterisk; pbx-18.1 pins the labpbx package
    fleet = _fleet(make_book, real, _customer(2))
    plan = _plan(fleet)
    assert [h.hostname for h in plan.hosts] == ["pbx-02"]
    reason = {e.hostname: e.reason for e in plan.excluded}["pbx-01"]
    assert reason == "release does not pin asterisk, the package of its asterisk PBX"
    assert [h.hostname for h in _plan(fleet, "asterisk-22.10-lab1").hosts] == ["pbx-01"]


def test_os_upgrade_plans_only_hosts_on_its_source_os() -> None:
    plan = _plan(load_book(DEMO_BOOK), "debian-12.8")
    assert plan.kind == "os" and plan.target == "12.8"
    assert any("is not the upgrade's source 12" in e.reason for e in plan.excluded)
    assert plan.hosts


# --- eligibility ----------------------------------------------------------------------------


def test_expired_software_maintenance_excludes_a_hardware_pbx(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1), _customer(2, swm_end="2026-11-24"))
    plan = _plan(fleet)
    assert [h.hostname for h in plan.hosts] == ["pbx-01"]
    (exc,) = plan.excluded
    assert exc.hostname == "pbx-02" and exc.reason.startswith("not entitled: ")


def test_entitlement_is_judged_on_the_wave_date_in_the_customers_timezone(
    make_book: BookFactory,
) -> None:
    # 23:30 UTC on the last day of the contract is already the next day in Tokyo
    fleet = _fleet(make_book, _customer(1, swm_end="2026-11-25", timezone="Asia/Tokyo"))
    assert _plan(fleet, now=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)).hosts
    late = _plan(fleet, now=datetime(2026, 11, 25, 23, 30, tzinfo=UTC))
    assert not late.hosts and late.excluded


def test_customers_filter_and_unknown_customer(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1), _customer(2))
    assert [h.hostname for h in _plan(fleet, customers=("c02",)).hosts] == ["pbx-02"]
    from orchestrator.errors import NotFoundError

    with pytest.raises(NotFoundError, match="unknown customer 'nope'"):
        _plan(fleet, customers=("nope",))


def test_naive_time_is_refused(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1))
    with pytest.raises(ValueError, match="aware"):
        _plan(fleet, now=datetime(2026, 11, 25, 12, 0))


# --- canary and batch order ----------------------------------------------------------------


def test_canary_is_internal_then_no_sla_and_shortest_reaction_goes_last(
    make_book: BookFactory,
) -> None:
    fleet = _fleet(
        make_book,
        _customer(1, sla_hours=4),
        _customer(2, sla_hours=24),
        _customer(3),
        _customer(4, internal=True, deployment="virtual"),
        _customer(5, sla_hours=8),
    )
    plan = _plan(fleet, canary_size=2, batch_size=10)
    assert _names(plan) == [["pbx-04", "pbx-03"], ["pbx-02", "pbx-05", "pbx-01"]]
    assert [b.name for b in plan.batches] == ["canary", "batch-1"]


def test_sla_customers_are_never_canaries(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1, sla_hours=4), _customer(2, sla_hours=8))
    plan = _plan(fleet, canary_size=3)
    assert plan.batches[0].name == "batch-1"
    assert [h.hostname for h in plan.hosts] == ["pbx-02", "pbx-01"]


def test_batches_by_size_and_by_percent(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, *(_customer(n) for n in range(1, 12)))
    by_size = _plan(fleet, canary_size=1, batch_size=4)
    assert [len(b.hosts) for b in by_size.batches] == [1, 4, 4, 2]
    by_percent = _plan(fleet, canary_size=1, batch_size=4, batch_percent=50)
    assert [len(b.hosts) for b in by_percent.batches] == [1, 6, 4]  # ceil(11 * 50%) = 6
    assert sorted(h.hostname for h in by_percent.hosts) == [f"pbx-{n:02d}" for n in range(1, 12)]


def test_no_canary_when_canary_size_is_zero(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1), _customer(2))
    plan = _plan(fleet, canary_size=0, batch_size=5)
    assert [b.name for b in plan.batches] == ["batch-1"]


# --- windows ---------------------------------------------------------------------------------


def test_first_window_is_in_the_customers_timezone(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1, timezone="America/New_York", slots=("wed 01:00-03:00",)))
    (host,) = _plan(fleet).hosts
    start = datetime.fromisoformat(host.window_start)
    assert start == datetime(2026, 12, 2, 1, 0, tzinfo=ZoneInfo("America/New_York"))
    assert start.utcoffset() == timedelta(hours=-5)
    assert datetime.fromisoformat(host.window_end) - start == timedelta(hours=2)


def test_a_window_open_at_plan_time_starts_now(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1, slots=("wed 12:00-15:00",)))  # 13:00 Berlin now
    (host,) = _plan(fleet).hosts
    assert datetime.fromisoformat(host.window_start) == NOW


def test_exception_date_moves_the_host_to_the_next_opening(make_book: BookFactory) -> None:
    fleet = _fleet(
        make_book, _customer(1, slots=("wed,thu 22:00-23:00",), exceptions=("2026-11-25",))
    )
    (host,) = _plan(fleet).hosts
    assert host.window_start.startswith("2026-11-26T22:00")


def test_host_without_an_opening_in_the_horizon_is_deferred(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1), _customer(2, slots=("sun 02:00-03:00",)))
    plan = _plan(fleet, horizon_days=2)
    assert [h.hostname for h in plan.hosts] == ["pbx-01"]
    (deferred,) = plan.deferred
    assert deferred.hostname == "pbx-02" and "next 2 days" in deferred.reason


def test_plan_is_pure_and_round_trips_through_json(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, *(_customer(n, sla_hours=4 if n % 2 else None) for n in range(1, 6)))
    a, b = _plan(fleet, canary_size=1, batch_size=2), _plan(fleet, canary_size=1, batch_size=2)
    assert a == b
    import json

    assert WavePlan.from_dict(json.loads(json.dumps(a.to_dict()))) == a


# --- the run-time rule: never start late ----------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = MaintenanceWindow(slots=("mon-sun 22:00-02:00",))


def _at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def test_window_open_with_enough_time_left_starts() -> None:
    d = window_decision(NIGHT, BERLIN, _at(23), timedelta(minutes=15))
    assert d.action == "start" and d.closes == _at(2, day=26)


def test_too_little_time_left_waits_for_the_next_opening() -> None:
    d = window_decision(NIGHT, BERLIN, _at(1, 50, day=26), timedelta(minutes=15))
    assert d.action == "wait" and d.at == _at(22, day=26)


def test_window_closed_waits_and_never_starts() -> None:
    d = window_decision(NIGHT, BERLIN, _at(2, 0, day=26), timedelta(minutes=15))
    assert d.action == "wait" and d.at == _at(22, day=26)


def test_no_opening_within_horizon_is_deferred() -> None:
    window = MaintenanceWindow(slots=("sun 02:00-03:00",), exceptions=("2026-11-29",))
    assert window_decision(window, BERLIN, _at(12), timedelta(minutes=15), 5).action == "deferred"


def test_dst_change_keeps_local_window_times() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: the 22:00 opening stays 22:00 local
    d = window_decision(
        NIGHT, BERLIN, datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN), timedelta(minutes=15)
    )
    assert d.at is not None and d.at.hour == 22 and d.at.utcoffset() == timedelta(hours=1)


# --- clock changes and short openings (issue 16, rule 5) -----------------------------------

SPRING_EVE = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # Berlin springs forward on 2027-03-28


def test_spring_forward_night_is_planned_at_an_existing_local_time(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1, slots=("sun 02:00-04:00",)))
    (host,) = _plan(fleet, now=SPRING_EVE).hosts
    assert host.window_start == "2027-03-28T03:00:00+02:00"
    assert host.window_end == "2027-03-28T04:00:00+02:00"


def test_a_window_inside_the_skipped_hour_is_planned_the_next_week(
    make_book: BookFactory,
) -> None:
    fleet = _fleet(make_book, _customer(1, slots=("sun 02:15-02:45",)))
    (host,) = _plan(fleet, now=SPRING_EVE, horizon_days=8).hosts
    assert host.window_start == "2027-04-04T02:15:00+02:00"
    assert host.window_end == "2027-04-04T02:45:00+02:00"


def test_an_opening_too_short_for_a_run_is_not_a_planned_start(make_book: BookFactory) -> None:
    # 13:00 Berlin at NOW: the Wednesday window has 5 minutes left, Thursday's is next
    fleet = _fleet(make_book, _customer(1, slots=("wed 12:00-13:05", "thu 12:00-13:00")))
    (host,) = _plan(fleet).hosts
    assert host.window_start == "2026-11-26T12:00:00+01:00"


def test_a_host_with_only_short_openings_is_deferred(make_book: BookFactory) -> None:
    fleet = _fleet(make_book, _customer(1, slots=("mon-sun 22:00-22:10",)))
    plan = _plan(fleet)
    assert plan.hosts == []
    (deferred,) = plan.deferred
    assert "15 minutes" in deferred.reason
