"""Who pays for work on an incident: the cause and the contracts decide free / package /
billable, the hour package is debited only for package work, and hours, history, the SLA
report and the docs say which and why. Fixtures are demo customers named by outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestrator.errors import RefusedError
from orchestrator.fleet import Fleet, load_book
from orchestrator.ledger import Ledger
from orchestrator.ledger import sla as store
from orchestrator.ledger.sla import Incident
from orchestrator.model.billing import Billing
from orchestrator.reports.docs import context, render
from orchestrator.reports.history import history
from orchestrator.sla import hours, incidents, report
from tests.conftest import DEMO_BOOK, REPO

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_book(DEMO_BOOK)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def _resolved(
    fleet: Fleet, ledger: Ledger, customer: str, cause: str, host: str | None = None
) -> Incident:
    inc = incidents.open_incident(
        fleet, ledger, None, customer_id=customer, title="x", actor="t", now=NOW, host=host
    ).incident
    return incidents.resolve(fleet, ledger, inc.id or 0, "t", NOW + timedelta(hours=1), cause)


def _book(
    fleet: Fleet, ledger: Ledger, customer: str, amount: float, inc: Incident | None, **kw: bool
) -> hours.Booked:
    return hours.book(
        fleet,
        ledger,
        customer_id=customer,
        hours=amount,
        text="work",
        actor="t",
        now=NOW + timedelta(hours=2),
        incident=inc,
        **kw,
    )


def _used(fleet: Fleet, ledger: Ledger, customer: str) -> float:
    return hours.balances(fleet, ledger, customer, NOW.date())[0].used


@pytest.mark.parametrize(
    ("customer", "host", "cause", "billing", "contract", "reason"),
    [
        # hardware PBX under software maintenance: diagnosis free
        ("clinic-nord", "clinic-nord-pbx", "pbx-software", "free", "clinic-nord-swm", "PBX-software fault, included"),
        # virtual PBX: software maintenance is part of the hosting package
        ("bergmann", "bergmann-pbx", "pbx-software", "free", "bergmann-host", "PBX-software fault, included"),
        # hardware fault under hardware maintenance: covered
        ("clinic-nord", "clinic-nord-pbx", "hardware", "free", "clinic-nord-hwm", "hardware maintenance"),
        # third party: billable although maintenance and a package exist
        ("clinic-nord", "clinic-nord-pbx", "third-party", "billable", None, "third-party"),
        # no software maintenance: diagnosis billable
        ("fjord", "fjord-pbx", "pbx-software", "billable", None, "no software-maintenance"),
        # maintenance ended 2026-06-30: billable
        ("eisenwerk", "eisenwerk-pbx", "pbx-software", "billable", None, "no software-maintenance"),
        # no hardware maintenance: billable
        ("harbor", "harbor-pbx", "hardware", "billable", None, "no hardware-maintenance"),
        # configuration: on the hour package
        ("clinic-nord", "clinic-nord-pbx", "configuration", "package", "clinic-nord-hours", "configuration work"),
    ],
)
def test_cause_and_contracts_decide_and_the_package_is_only_debited_for_package_work(
    fleet: Fleet,
    ledger: Ledger,
    customer: str,
    host: str,
    cause: str,
    billing: str,
    contract: str | None,
    reason: str,
) -> None:
    inc = _resolved(fleet, ledger, customer, cause, host)
    assert inc.detail["billing"] == billing and reason in (inc.coverage or "")
    done = _book(fleet, ledger, customer, 1.5, inc)
    assert [(b.billing, b.contract_id, b.hours) for b in done.bookings] == [
        (Billing(billing), contract, 1.5)
    ]
    assert reason in done.bookings[0].reason
    packages = hours.balances(fleet, ledger, customer, NOW.date())
    assert [b.used for b in packages] == ([1.5] if billing == "package" else [0.0] * len(packages))


def test_configuration_work_beyond_the_package_is_billable_and_says_so(
    fleet: Fleet, ledger: Ledger
) -> None:
    inc = _resolved(fleet, ledger, "bergmann", "configuration")
    done = _book(fleet, ledger, "bergmann", 11, inc)
    assert [(b.billing, b.hours) for b in done.bookings] == [
        (Billing.PACKAGE, 10),
        (Billing.BILLABLE, 1),
    ]
    assert "bergmann-hours-2026 is exhausted" in done.bookings[1].reason
    assert _used(fleet, ledger, "bergmann") == 10


def test_configuration_incident_without_a_package_is_billable_without_the_flag(
    fleet: Fleet, ledger: Ledger
) -> None:
    inc = _resolved(fleet, ledger, "harbor", "configuration")
    assert inc.coverage == "billable: no active hour package on 2026-11-25"
    done = _book(fleet, ledger, "harbor", 2, inc)
    assert [(b.billing, b.reason) for b in done.bookings] == [
        (Billing.BILLABLE, "no active hour package on 2026-11-25")
    ]
    assert any("billable" in w for w in done.warnings)


def test_work_on_an_unresolved_incident_is_refused_and_writes_nothing(
    fleet: Fleet, ledger: Ledger
) -> None:
    inc = incidents.open_incident(
        fleet, ledger, None, customer_id="clinic-nord", title="x", actor="t", now=NOW
    ).incident
    before = len(ledger.actions())
    with pytest.raises(RefusedError, match="no cause yet"):
        _book(fleet, ledger, "clinic-nord", 1, inc)
    assert store.bookings(ledger, "clinic-nord") == [] and len(ledger.actions()) == before


def test_billable_flag_cannot_override_free_diagnosis(fleet: Fleet, ledger: Ledger) -> None:
    inc = _resolved(fleet, ledger, "clinic-nord", "pbx-software")
    with pytest.raises(RefusedError, match="contradicts the contract"):
        _book(fleet, ledger, "clinic-nord", 1, inc, billable=True)
    assert store.bookings(ledger, "clinic-nord") == []


def test_an_incident_of_another_customer_is_refused(fleet: Fleet, ledger: Ledger) -> None:
    inc = _resolved(fleet, ledger, "clinic-nord", "configuration")
    with pytest.raises(RefusedError, match="belongs to clinic-nord"):
        _book(fleet, ledger, "bergmann", 1, inc)


def test_history_report_and_docs_show_which_and_why(fleet: Fleet, ledger: Ledger) -> None:
    free = _resolved(fleet, ledger, "clinic-nord", "pbx-software", "clinic-nord-pbx")
    third = _resolved(fleet, ledger, "clinic-nord", "third-party", "clinic-nord-pbx")
    _book(fleet, ledger, "clinic-nord", 1.5, free)
    _book(fleet, ledger, "clinic-nord", 2, third)
    _book(fleet, ledger, "clinic-nord", 1, None)

    rows = [r for r in history(fleet, ledger, "clinic-nord") if r["kind"] == "hours.book"]
    assert [r["outcome"] for r in rows] == ["free", "billable", "package"]
    assert "diagnosis of a PBX-software fault, included in clinic-nord-swm" in rows[0]["summary"]
    assert rows[1]["detail"]["reason"].startswith("third-party fault")

    period = report.parse_period("2026-11", None, None, NOW.date())
    r = report.sla_report(fleet, ledger, period, NOW + timedelta(hours=3), "clinic-nord")
    assert [(x.billing, x.hours["free"], x.hours["billable"]) for x in r.rows] == [
        ("free", 1.5, 0.0),
        ("billable", 0.0, 2.0),
    ]
    assert r.summary[0].hours == {"free": 1.5, "package": 1.0, "billable": 2.0}

    ctx = context(fleet, ledger, "clinic-nord", NOW + timedelta(hours=3))
    assert [w["billing"] for w in ctx["work"]] == ["package", "billable", "free"]
    md, html = render(ctx, REPO / "templates" / "docs")
    assert "diagnosis of a PBX-software fault, included in clinic-nord-swm" in md
    assert "third-party fault" in html
    assert ctx["balances"][0].used == 1.0  # only the package work


def test_old_bookings_get_their_billing_from_the_migration(tmp_path: Path) -> None:
    """A ledger written before 0006_hour_billing: package and billable rows keep meaning
    what they meant, and count against the package as before."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = Ledger(url, upgrade=False)
    with old.engine.connect() as conn, conn.begin():
        cfg = old._alembic()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_sla")
        for billable, contract in ((False, "clinic-nord-hours"), (True, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO hour_bookings (at, customer_id, contract_id, hours, text, "
                    "actor, billable) VALUES (:at, 'clinic-nord', :k, 2, 'old', 't', :b)"
                ),
                {"at": NOW, "k": contract, "b": billable},
            )
    ledger = Ledger(url, upgrade=True)  # what `pbxops db upgrade` does
    assert ledger.current() == ledger.heads()  # 0006_hour_billing and any later one
    assert [b.billing for b in store.bookings(ledger, "clinic-nord")] == [
        Billing.PACKAGE,
        Billing.BILLABLE,
    ]
    assert store.booked_hours(ledger, "clinic-nord-hours") == 2
