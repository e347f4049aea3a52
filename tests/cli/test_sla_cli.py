"""The SLA commands end to end through the CLI: bad input is one clear line, a meaningful
exit code, and nothing written to the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.ledger import Ledger
from tests.conftest import DEMO_BOOK


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PBXOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PBXOPS_SMTP_PORT", "1")
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["--book", str(DEMO_BOOK), *args])

    return invoke


def _actions(tmp_path: Path) -> int:
    return len(Ledger(f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}").actions())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["hours", "book", "fjord", "1", "x"], 5, "no active hour package"),
        (["hours", "book", "bergmann", "-2", "x"], 5, "must be positive"),
        (["hours", "book", "nobody", "1", "x"], 4, "unknown customer"),
        (["incident", "ack", "INC-000404"], 4, "unknown incident"),
        (["incident", "ack", "yesterday"], 4, "unknown incident"),
        (["sla", "report", "--period", "2026-13"], 5, "unknown period"),
        (["contracts", "history", "nobody"], 4, "unknown customer"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    run,
    tmp_path: Path,
    args: list[str],
    code: int,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output
    assert _actions(tmp_path) == 0


def test_book_ack_report_history_roundtrip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    opened = run(
        "incident", "open", "clinic-nord", "No dial tone", "--host", "clinic-nord-pbx", "--no-mail"
    )
    assert opened.exit_code == 0 and "INC-000001" in opened.output and "4 h 24x7" in opened.output
    assert "deadline met" in run("incident", "ack", "INC-000001").output
    assert run("hours", "book", "clinic-nord", "1.5", "Hunt group").exit_code == 0
    report = json.loads(run("sla", "report", "--customer", "clinic-nord", "--json").output)
    assert [r["status"] for r in report["incidents"]] == ["met"]
    csv = run("contracts", "history", "clinic-nord", "--format", "csv").output.splitlines()
    assert [line.split(",")[1] for line in csv[1:]] == [
        "incident.open",
        "incident.ack",
        "hours.book",
    ]
    pricing = json.loads(
        run("contracts", "pricing", "harbor", "--on", "2026-11-25", "--json").output
    )
    assert pricing["monthly_totals"] == {"harbor": 32.25}


def test_free_diagnosis_is_recorded_not_debited_and_says_why(run) -> None:  # type: ignore[no-untyped-def]
    run("incident", "open", "clinic-nord", "Calls drop", "--host", "clinic-nord-pbx", "--no-mail")
    resolved = run("incident", "resolve", "INC-000001", "--cause", "pbx-software")
    assert "free: diagnosis of a PBX-software fault, included in clinic-nord-swm" in (
        resolved.output
    )
    booked = run("hours", "book", "clinic-nord", "1.5", "Traced the crash", "--incident", "INC-1")
    assert booked.exit_code == 0, booked.output
    assert "booked 1.5 h for clinic-nord (free): diagnosis of a PBX-software fault" in (
        booked.output
    )
    balance = json.loads(run("hours", "balance", "clinic-nord", "--json").output)
    assert [(b["contract"], b["used"]) for b in balance] == [("clinic-nord-hours", 0.0)]
    listed = json.loads(run("hours", "list", "clinic-nord", "--json").output)
    assert [(b["billing"], b["contract"], b["incident"]) for b in listed] == [
        ("free", "clinic-nord-swm", "INC-000001")
    ]
    history = run("contracts", "history", "clinic-nord", "--format", "json").output
    assert [r["outcome"] for r in json.loads(history) if r["kind"] == "hours.book"] == ["free"]


def test_booking_on_an_unresolved_incident_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("incident", "open", "clinic-nord", "Calls drop", "--no-mail")
    before = _actions(tmp_path)
    result = run("hours", "book", "clinic-nord", "1", "x", "--incident", "INC-000001")
    assert result.exit_code == 5 and "no cause yet" in result.output
    assert _actions(tmp_path) == before


def test_balance_uses_the_customers_date_like_booking(  # type: ignore[no-untyped-def]
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2026-12-31 23:30 UTC is already 2027-01-01 in Berlin: clinic-nord's 2026 package has
    ended there, for the balance as for a booking."""
    from orchestrator.sla import service

    monkeypatch.setattr(service, "now", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    balance = run("hours", "balance", "clinic-nord")
    assert balance.exit_code == 0 and "no active hour package" in balance.output
    booking = run("hours", "book", "clinic-nord", "1", "x")
    assert booking.exit_code == 5 and "no active hour package on 2027-01-01" in booking.output


def test_incident_list_json_names_the_billing_verdict(run) -> None:  # type: ignore[no-untyped-def]
    run("incident", "open", "fjord", "No dial tone", "--no-mail")
    run("incident", "resolve", "INC-000001", "--cause", "pbx-software")
    listed = json.loads(run("incident", "list", "--json").output)
    assert [(i["billing"], i["coverage"].split(":")[0]) for i in listed] == [
        ("billable", "billable")
    ]
