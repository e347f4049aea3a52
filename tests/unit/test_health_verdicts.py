"""Health verdicts that mean something (issue 16): the backup check is the newest backup's
age against a threshold, and a probe that could not read the directory says so (it said
"no backup found" on every host); "behind" only for a release the customer is entitled to
and that a wave made due (it said "behind catalogue 19.0.0" on every host)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator import planner
from orchestrator.fleet import Fleet, load_book
from orchestrator.health.checks import (
    DueRelease,
    HostFacts,
    Thresholds,
    VersionExpectation,
    evaluate,
)
from orchestrator.health.expect import expectations
from orchestrator.health.sweep import parse_facts
from orchestrator.ledger import Ledger
from orchestrator.ledger import waves as wl
from orchestrator.sipprobe import SipProbeResult
from tests.conftest import DEMO_BOOK

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SIP = SipProbeResult("h", 5060, 200, "OK", "LabPBX 18.0.0", "18.0.0", None, 3.0)


def _facts(**kw: object) -> HostFacts:
    base: dict[str, object] = dict(ssh_ok=True, service="active", package_version="18.0.0",
                                   backup_dir="/var/backups/pbxops")
    return HostFacts(**{**base, **kw})  # type: ignore[arg-type]


NOTHING_DUE = VersionExpectation()
DEFAULTS = Thresholds()


def _check(name: str, facts: HostFacts, expect: VersionExpectation = NOTHING_DUE,
           limits: Thresholds = DEFAULTS) -> tuple[str, str]:
    found = {c.name: c for c in evaluate(facts, SIP, expect, NOW, limits)}[name]
    return found.status, found.message


def test_backup_age_against_the_threshold() -> None:
    fresh = _check("backup", _facts(backup_at=NOW - timedelta(hours=20)))
    assert fresh == ("ok", "last backup 20 h ago")
    status, msg = _check("backup", _facts(backup_at=NOW - timedelta(hours=20)),
                         limits=Thresholds(backup_warn_hours=12))
    assert status == "warn"
    assert "older than 12 h" in msg and "/var/backups/pbxops" in msg
    assert "health_backup_max_age_hours" in msg


def test_an_unreadable_backup_directory_is_an_error_not_no_backup() -> None:
    status, msg = _check("backup", _facts(backup_error="sudo -n: a password is required"))
    assert status == "warn" and "no configuration backup" not in msg
    assert msg.startswith("cannot read /var/backups/pbxops: sudo -n: a password is required")
    assert "passwordless sudo" in msg


def test_no_backup_says_which_directory_and_what_to_do() -> None:
    status, msg = _check("backup", _facts(backup_dir_missing=True))
    assert status == "warn" and "/var/backups/pbxops does not exist" in msg and "wave" in msg
    assert "is empty" in _check("backup", _facts())[1]


def test_facts_carry_the_backup_probe_lines() -> None:
    facts = parse_facts("backup_dir=/b\nbackup_error=find: '/b': Permission denied \n")
    assert facts.backup_error == "find: '/b': Permission denied" and facts.backup_at is None
    facts = parse_facts("backup_dir=/b\nbackup_missing=1\n")
    assert facts.backup_dir_missing and not facts.backup_error
    facts = parse_facts("backup_dir=/b\nbackup_epoch=1795780800\n")
    assert facts.backup_at == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_newer_release_nobody_planned_is_not_a_warning() -> None:
    status, msg = _check("version", _facts(), VersionExpectation("19.0.0"))
    assert (status, msg) == ("ok", "18.0.0 (19.0.0 entitled, not planned)")


def test_a_due_release_warns_with_the_wave_and_what_to_do() -> None:
    due = DueRelease("pbx-18.1", "18.1.0", 7, "2026-11-26T22:00:00+01:00", "failed", "halted")
    status, msg = _check("version", _facts(), VersionExpectation("19.0.0", due))
    assert status == "warn"
    assert msg.startswith("18.0.0 behind 18.1.0 (pbx-18.1), due since 2026-11-26T22:00:00+01:00")
    assert "pbxops wave retry-failed 7" in msg
    pending = DueRelease("pbx-18.1", "18.1.0", 7, "2026-11-26T22:00", "pending", "planned")
    assert "pbxops wave run 7" in _check("version", _facts(), VersionExpectation(None, pending))[1]


def test_installed_but_not_running_says_to_restart() -> None:
    status, msg = _check("version", _facts(package_version="18.1.0"))
    assert status == "warn" and "restart the PBX service" in msg


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_book(DEMO_BOOK)


def _plan(fleet: Fleet, ledger: Ledger, release: str, at: datetime) -> tuple[int, dict[str, str]]:
    plan = planner.plan_wave(fleet, fleet.catalog.release(release), at)  # type: ignore[arg-type]
    rows = [{"hostname": h.hostname, "customer_id": h.customer, "contract_id": h.contract,
             "batch": b.index, "status": wl.PENDING} for b in plan.batches for h in b.hosts]
    wave = wl.create_wave(ledger, plan.to_dict(), "t", rows)
    return wave, {h.hostname: h.window_start for h in plan.hosts}


def test_due_only_for_planned_entitled_hosts_after_their_planned_start(
    fleet: Fleet, tmp_path: Path
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    hosts = list(fleet.hosts())
    before = expectations(fleet, hosts, ledger, NOW)
    assert all(e.due is None for e in before.values()), "nothing planned: nothing is due"
    assert before["clinic-nord-pbx"].available == "19.0.0"
    assert before["eisenwerk-pbx"].available is None, "contract ended: nothing entitled"

    wave, starts = _plan(fleet, ledger, "pbx-18.1", NOW)
    assert "eisenwerk-pbx" not in starts
    first = min(datetime.fromisoformat(s) for s in starts.values())
    assert all(e.due is None for e in expectations(fleet, hosts, ledger, NOW).values())

    later = first + timedelta(minutes=1)
    due = {h: e.due for h, e in expectations(fleet, hosts, ledger, later).items() if e.due}
    assert set(due) == {h for h, s in starts.items() if datetime.fromisoformat(s) < later}
    one = next(iter(due.values()))
    assert (one.release, one.version, one.wave_id, one.status) == ("pbx-18.1", "18.1.0", wave,
                                                                   "pending")
    host = next(iter(due))
    wl.update_host(ledger, wave, host, "t", summary="test", status=wl.DONE)
    assert expectations(fleet, hosts, ledger, later)[host].due is None, "at target: not due"
    wl.set_wave_status(ledger, wave, "aborted")
    assert all(e.due is None for e in expectations(fleet, hosts, ledger, later).values())


def test_sweep_version_label_is_the_newest_entitled_release(fleet: Fleet) -> None:
    expect = expectations(fleet, list(fleet.hosts()), None, NOW)
    assert expect["clinic-nord-pbx"] == VersionExpectation("19.0.0", None)
