"""Incidents, notification mail (real SMTP server), hour packages, SLA report, history,
Prometheus exposition and customer docs: everything of the SLA service that needs no lab."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.errors import NotFoundError, RefusedError
from orchestrator.fleet import Fleet, load_book
from orchestrator.health.checks import (
    DueRelease,
    HostFacts,
    HostHealth,
    Thresholds,
    VersionExpectation,
    evaluate,
)
from orchestrator.health.prom import exposition
from orchestrator.health.sweep import SweepResult, parse_facts
from orchestrator.ledger import Ledger
from orchestrator.ledger import sla as store
from orchestrator.reports.docs import context, render
from orchestrator.reports.history import history, to_csv
from orchestrator.sipprobe import SipProbeResult
from orchestrator.sla import hours, incidents, report
from orchestrator.sla.notify import Mailer
from tests.conftest import DEMO_BOOK, REPO, Inbox, _free_port

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Berlin


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_book(DEMO_BOOK)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


@pytest.fixture
def smtp() -> Iterator[tuple[Mailer, Inbox]]:
    """A real SMTP server on 127.0.0.1, started and stopped by the test."""
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Mailer("127.0.0.1", port, "ops@provider.example"), inbox
    finally:
        controller.stop()


def test_incident_mail_reaches_customer_and_on_duty_with_stable_subject(
    fleet: Fleet, ledger: Ledger, smtp: tuple[Mailer, Inbox]
) -> None:
    mailer, inbox = smtp
    opened = incidents.open_incident(
        fleet,
        ledger,
        mailer,
        customer_id="clinic-nord",
        host="clinic-nord-pbx",
        title="SIP OPTIONS not answered",
        actor="test",
        now=NOW,
    )
    inc = opened.incident
    assert inc.contract_id == "clinic-nord-sla"
    assert inc.deadline == NOW + timedelta(hours=4)
    assert len(inbox.messages) == 1
    env = inbox.messages[0]
    # Wednesday 10:00 Berlin: Mara Weber (07:00-16:00) is on duty
    assert set(env.rcpt_tos) == {"it@clinic-nord.example", "m.weber@provider.example"}
    msg = email.message_from_bytes(env.content, policy=email.policy.default)
    assert msg["Subject"] == (
        f"[pbxops {inc.ticket}] customer=clinic-nord contract=clinic-nord-sla "
        "host=clinic-nord-pbx deadline=2026-11-25T13:00:00Z: SIP OPTIONS not answered"
    )
    assert msg["X-Pbxops-Incident"] == inc.ticket
    assert msg["X-Pbxops-Deadline"] == "2026-11-25T13:00:00Z"
    kinds = [a.kind for a in ledger.actions(customer_id="clinic-nord")]
    assert kinds == ["incident.open", "incident.notify"]


def test_mail_failure_keeps_the_incident(fleet: Fleet, ledger: Ledger) -> None:
    dead = Mailer("127.0.0.1", _free_port(), "ops@provider.example", timeout=2)
    opened = incidents.open_incident(
        fleet, ledger, dead, customer_id="bergmann", title="No dial tone", actor="t", now=NOW
    )
    assert opened.mail_error and not opened.notified
    assert store.incident(ledger, opened.incident.id or 0) is not None
    notify = ledger.actions(kind_prefix="incident.notify")
    assert [a.outcome for a in notify] == ["failed"]


def test_ack_records_reaction_and_unknown_ack_writes_nothing(fleet: Fleet, ledger: Ledger) -> None:
    inc = incidents.open_incident(
        fleet, ledger, None, customer_id="bergmann", title="Trunk down", actor="t", now=NOW
    ).incident
    # bergmann: 8 business hours from Wednesday 10:00 Berlin -> Thursday 08:00 + 0 h = 18:00 Wed
    assert inc.deadline == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    before = len(ledger.actions())
    with pytest.raises(NotFoundError):
        incidents.acknowledge(ledger, 999, "t", NOW)
    assert len(ledger.actions()) == before
    acked = incidents.acknowledge(ledger, inc.id or 0, "mara", NOW + timedelta(hours=1))
    assert acked.acked_by == "mara"
    with pytest.raises(RefusedError, match="already acknowledged"):
        incidents.acknowledge(ledger, inc.id or 0, "t", NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    ("customer", "cause", "coverage"),
    [
        ("clinic-nord", "pbx-software", "free: diagnosis of a PBX-software fault, included in clinic-nord-swm"),
        ("clinic-nord", "third-party", "billable: third-party fault (carrier, LAN, customer equipment): no contract covers it"),
        ("fjord", "pbx-software", "billable: PBX-software fault, but no software-maintenance or hosting contract covers any of the customer's systems on 2026-11-25"),
    ],
)
def test_free_diagnosis_vs_third_party(
    fleet: Fleet, ledger: Ledger, customer: str, cause: str, coverage: str
) -> None:
    inc = incidents.open_incident(
        fleet, ledger, None, customer_id=customer, title="x", actor="t", now=NOW
    ).incident
    done = incidents.resolve(fleet, ledger, inc.id or 0, "t", NOW + timedelta(hours=1), cause)
    assert (done.cause, done.coverage, done.state) == (cause, coverage, "resolved")


def test_hours_low_empty_and_billable(fleet: Fleet, ledger: Ledger) -> None:
    first = hours.book(
        fleet, ledger, customer_id="bergmann", hours=8.5, text="Dial plan", actor="t", now=NOW
    )
    assert first.balance and first.balance.state == "low"
    assert any("running low" in w for w in first.warnings)
    second = hours.book(
        fleet, ledger, customer_id="bergmann", hours=2, text="IVR", actor="t", now=NOW
    )
    assert [(b.hours, b.billable) for b in second.bookings] == [(1.5, False), (0.5, True)]
    assert any("exhausted" in w for w in second.warnings)
    assert hours.balances(fleet, ledger, "bergmann", NOW.date())[0].state == "empty"


@pytest.mark.parametrize(
    ("customer", "amount", "billable", "message"),
    [
        ("fjord", 1.0, False, "no active hour package"),
        ("bergmann", -1.0, False, "must be positive"),
        ("bergmann", 0.0, True, "must be positive"),
    ],
)
def test_bad_bookings_write_nothing(
    fleet: Fleet, ledger: Ledger, customer: str, amount: float, billable: bool, message: str
) -> None:
    with pytest.raises(RefusedError, match=message):
        hours.book(
            fleet,
            ledger,
            customer_id=customer,
            hours=amount,
            text="x",
            actor="t",
            now=NOW,
            billable=billable,
        )
    assert store.bookings(ledger, customer) == []
    assert ledger.actions() == []


def test_billable_work_without_package(fleet: Fleet, ledger: Ledger) -> None:
    done = hours.book(
        fleet,
        ledger,
        customer_id="fjord",
        hours=1,
        text="Move phone",
        actor="t",
        now=NOW,
        billable=True,
    )
    assert [(b.contract_id, b.billable) for b in done.bookings] == [(None, True)]
    assert [a.outcome for a in ledger.actions(customer_id="fjord")] == ["billable"]


@pytest.mark.parametrize("bad", ["2026-13", "last month", "2026-Q5", "26-11"])
def test_unknown_period_is_refused(bad: str) -> None:
    with pytest.raises(RefusedError):
        report.parse_period(bad, None, None, date(2026, 11, 25))


def test_period_to_before_from_is_refused() -> None:
    with pytest.raises(RefusedError, match="before it starts"):
        report.parse_period(None, date(2026, 11, 5), date(2026, 11, 1), date(2026, 11, 25))


def test_report_met_missed_pending(fleet: Fleet, ledger: Ledger) -> None:
    def open_(customer: str, at: datetime) -> int:
        return (
            incidents.open_incident(
                fleet, ledger, None, customer_id=customer, title="t", actor="t", now=at
            ).incident.id
            or 0
        )

    met = open_("clinic-nord", NOW)
    missed = open_("clinic-nord", NOW + timedelta(hours=1))
    open_("dockside", NOW + timedelta(hours=2))
    incidents.acknowledge(ledger, met, "t", NOW + timedelta(hours=3))
    incidents.acknowledge(ledger, missed, "t", NOW + timedelta(hours=6))
    period = report.parse_period("2026-11", None, None, NOW.date())
    r = report.sla_report(fleet, ledger, period, NOW + timedelta(hours=3))
    assert [x.status for x in r.rows] == ["met", "missed", "pending"]
    assert [(s.customer, s.met, s.missed, s.pending) for s in r.summary] == [
        ("clinic-nord", 1, 1, 0),
        ("dockside", 0, 0, 1),
    ]
    assert {g.customer for g in r.gaps} == {"clinic-nord", "dockside"}


def test_history_in_time_order_and_csv(fleet: Fleet, ledger: Ledger) -> None:
    from orchestrator.ledger import ActionRecord

    ledger.record(
        ActionRecord(
            "wave.host",
            "clinic-nord",
            "clinic-nord-swm",
            "updated",
            "t",
            host="clinic-nord-pbx",
            at=NOW + timedelta(hours=5),
        )
    )
    incidents.open_incident(
        fleet, ledger, None, customer_id="clinic-nord", title="x", actor="t", now=NOW
    )
    rows = history(fleet, ledger, "clinic-nord")
    assert [r["kind"] for r in rows] == ["incident.open", "wave.host"]
    lines = to_csv(rows).splitlines()
    assert lines[0] == "at,kind,contract,host,outcome,actor,summary,id"
    assert lines[2].split(",")[1:4] == ["wave.host", "clinic-nord-swm", "clinic-nord-pbx"]
    with pytest.raises(NotFoundError):
        history(fleet, ledger, "nobody")


def _health(host: str, sip_status: int | None, service: str = "active") -> HostHealth:
    facts = HostFacts(
        ssh_ok=True,
        service=service,
        package_version="18.0.0",
        disk_used_pct=40.0,
        mem_available_pct=60.0,
        backup_at=NOW - timedelta(hours=3),
    )
    sip = SipProbeResult(
        host,
        5060,
        sip_status,
        "OK" if sip_status else "",
        "LabPBX 18.0.0" if sip_status else "",
        "18.0.0" if sip_status else None,
        None if sip_status else "no SIP answer within 2s",
        3.0,
    )
    due = DueRelease("pbx-19.0", "19.0.0", 1, "2026-11-20T22:00:00+01:00", "pending")
    checks = evaluate(facts, sip, VersionExpectation("19.0.0", due), NOW, Thresholds())
    return HostHealth("clinic-nord", host, "10.0.0.1", checks, sip.version, "19.0.0")


def test_prometheus_exposition_parses() -> None:
    result = SweepResult(NOW, 1.5, (_health("a-pbx", 200), _health("b-pbx", None, "failed")), 8)
    families = {f.name: f for f in text_string_to_metric_families(exposition(result))}
    ok = {
        (s.labels["host"], s.labels["check"]): s.value
        for s in families["pbxops_health_check_ok"].samples
    }
    assert ok[("a-pbx", "sip")] == 1.0 and ok[("b-pbx", "sip")] == 0.0
    assert ok[("b-pbx", "service")] == 0.0
    sev = {
        (s.labels["host"], s.labels["check"]): s.value
        for s in families["pbxops_health_check_severity"].samples
    }
    assert sev[("a-pbx", "version")] == 1.0  # 18.0.0 behind the due 19.0.0
    disk = families["pbxops_disk_used_ratio"].samples
    assert {s.value for s in disk} == {0.4}
    assert families["pbxops_sweep_failing_hosts"].samples[0].value == 1.0


def test_facts_parsing() -> None:
    facts = parse_facts(
        "service=inactive\ndisk_used_pct=97\nmem_available_pct=41.5\nbackup_epoch=1764000000\n"
    )
    assert facts.service == "inactive" and facts.disk_used_pct == 97.0
    checks = {
        c.name: c.status
        for c in evaluate(
            facts, SipProbeResult("h", 5060, 200), VersionExpectation(), NOW, Thresholds()
        )
    }
    assert checks["service"] == "fail" and checks["disk"] == "fail" and checks["memory"] == "ok"
    assert checks["certificate"] == "skip"


@pytest.mark.parametrize("customer", [c.id for c in load_book(DEMO_BOOK).customers])
def test_docs_render_for_every_demo_customer(fleet: Fleet, ledger: Ledger, customer: str) -> None:
    from orchestrator.ledger import ActionRecord

    planted = "s3cr3t-Pl4nted-V4lue"
    ledger.record(
        ActionRecord(
            "access.grant",
            customer,
            None,
            "access granted",
            "t",
            detail={"psk": planted, "key": "-----BEGIN OPENSSH PRIVATE KEY"},
        )
    )
    md, html = render(context(fleet, ledger, customer, NOW), REPO / "templates" / "docs")
    name = fleet.customer(customer).name
    assert md.startswith(f"# {name}")
    assert "<h1>" in html and "</html>" in html
    for system in fleet.customer(customer).systems:
        assert system.hostname in md and system.hostname in html
    assert "access granted" in md
    for marker in ("PRIVATE KEY", planted):
        assert marker not in md and marker not in html


def test_times_with_an_offset_survive_the_ledger(fleet: Fleet, ledger: Ledger) -> None:
    berlin = datetime(2026, 11, 24, 9, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    inc = incidents.open_incident(
        fleet, ledger, None, customer_id="clinic-nord", title="x", actor="t", now=berlin
    ).incident
    stored = store.incident(ledger, inc.id or 0)
    assert stored is not None and stored.opened_at == berlin
    acked = incidents.acknowledge(ledger, inc.id or 0, "t", berlin + timedelta(minutes=52))
    assert acked.acked_at == berlin + timedelta(minutes=52)
    assert [a.at for a in ledger.actions(kind_prefix="incident.")] == [berlin, acked.acked_at]
