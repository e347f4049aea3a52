"""Monitoring that means something, on real lab hosts (issue 16): three hosts in a good, a
degraded and a broken state, each with the verdict an operator should get. The backup
directory is root's (0700) as the pbx_update role makes it, read through sudo; the SSH user
losing sudo is a probe error, not "no backup"; "behind" only for a release a wave made due.
Also: the read-only playbooks run under ``--check`` (their probes have check_mode: false)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import lab, planner
from orchestrator.executor import run_playbook
from orchestrator.fleet import load_book
from orchestrator.health.checks import Thresholds
from orchestrator.health.service import run_sweep
from orchestrator.health.sweep import SweepOptions
from orchestrator.inventory import render_inventory
from orchestrator.ledger import Ledger
from orchestrator.ledger import waves as wl
from orchestrator.model import PbxRelease
from orchestrator.settings import Settings

from .books import book_lab, one_pbx_customer

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                       reason="the sweep uses ssh, not Ansible, and --check does not depend on "
                              "the strategy: run once, under the default"),
]

GOOD, DEGRADED, BROKEN = "good-pbx", "degraded-pbx", "broken-pbx"
BACKUPS = "/var/backups/pbxops"


@pytest.fixture(scope="module")
def health_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("health")
    customers = [one_pbx_customer("good", 80), one_pbx_customer("degraded", 81),
                 one_pbx_customer("broken", 82)]
    with book_lab(root, customers) as settings:
        yield settings


def _backup(s: Settings, host: str, age: str) -> None:
    """A configuration backup as pbx_update leaves it: root's 0700 directory, 0600 file."""
    lab.run_in_host(s, host, ["install", "-d", "-m", "0700", BACKUPS])
    lab.run_in_host(s, host, ["sh", "-c", f'umask 077; tar -czf {BACKUPS}/config-test.tgz '
                              f'/etc/hostname && touch -d "{age}" {BACKUPS}/config-test.tgz'])


def _plan_due(s: Settings, host_customer: str, at: datetime) -> int:
    """A wave planned at ``at`` for one customer's host (always-open window: its planned
    start is ``at``), left pending: the release is due since then."""
    fleet = load_book(s.book)
    release = fleet.catalog.release("pbx-18.1")
    assert isinstance(release, PbxRelease)
    plan = planner.plan_wave(fleet, release, at, planner.PlanOptions(customers=(host_customer,)))
    rows = [{"hostname": h.hostname, "customer_id": h.customer, "contract_id": h.contract,
             "batch": b.index, "status": wl.PENDING} for b in plan.batches for h in b.hosts]
    return wl.create_wave(Ledger(s.ledger), plan.to_dict(), "test", rows)


def test_good_degraded_and_broken_hosts_get_their_verdicts(health_lab: Settings) -> None:
    s = health_lab
    now = datetime.now(UTC)
    _backup(s, GOOD, "2 hours ago")
    _backup(s, DEGRADED, "10 days ago")
    _backup(s, BROKEN, "1 hour ago")
    wave = _plan_due(s, "degraded", now - timedelta(days=2))
    lab.run_in_host(s, BROKEN, ["systemctl", "stop", "labpbx.service"])
    lab.run_in_host(s, BROKEN, ["mv", "/etc/sudoers.d/pbxops", "/root/sudoers-pbxops"])
    try:
        opts = SweepOptions(ssh_config=s.ssh_config, workers=3,
                            thresholds=Thresholds(backup_warn_hours=s.health_backup_max_age_hours))
        ledger = Ledger(s.ledger)
        outcome = run_sweep(load_book(s.book), None, None, opts, waves=ledger)
    finally:
        lab.run_in_host(s, BROKEN, ["mv", "/root/sudoers-pbxops", "/etc/sudoers.d/pbxops"])
        lab.run_in_host(s, BROKEN, ["systemctl", "start", "labpbx.service"])
    hosts = {h.host: h for h in outcome.result.hosts}
    verdict = {name: h.status for name, h in hosts.items()}
    assert verdict == {GOOD: "ok", DEGRADED: "warn", BROKEN: "fail"}, hosts

    good = {c.name: c for c in hosts[GOOD].checks}
    assert good["backup"].status == "ok" and good["backup"].message == "last backup 2 h ago"
    assert good["version"].status == "ok", "19.0.0 exists but no wave made it due"
    assert "not planned" in good["version"].message

    degraded = {c.name: c for c in hosts[DEGRADED].checks}
    assert degraded["backup"].status == "warn"
    assert degraded["backup"].message.startswith("last backup 240 h ago, older than 168 h")
    assert degraded["version"].status == "warn"
    assert "behind 18.1.0 (pbx-18.1)" in degraded["version"].message
    assert f"pbxops wave run {wave}" in degraded["version"].message
    assert {c.status for n, c in degraded.items() if n not in ("backup", "version")} <= {
        "ok", "skip"}

    broken = {c.name: c for c in hosts[BROKEN].checks}
    assert broken["service"].status == "fail" and broken["sip"].status == "fail"
    assert broken["backup"].status == "warn"
    assert broken["backup"].message.startswith(f"cannot read {BACKUPS}: sudo -n:"), broken
    assert "no configuration backup" not in broken["backup"].message

    # the playbook's view of the same backups (run as root): age against the threshold
    inventory = render_inventory(load_book(s.book), datetime.now(UTC).date())
    played = run_playbook(s, "health_check.yml", inventory, [GOOD, DEGRADED])
    for host, stale in ((GOOD, False), (DEGRADED, True)):
        facts = played.hosts[host].facts
        assert not played.hosts[host].failed, played.hosts[host]
        assert str(facts["backup_stale"]) == str(stale) and facts["backup_error"] == "", facts
    assert 239 < float(played.hosts[DEGRADED].facts["backup_age_hours"]) < 241


def test_read_only_playbooks_run_under_check_mode(health_lab: Settings) -> None:
    """``ansible-playbook --check`` of preflight.yml and health_check.yml: every probe runs
    (check_mode: false), so the asserts see real values and nothing is changed; before, the
    skipped commands left nothing to assert on and both playbooks failed."""
    s = health_lab
    inventory = render_inventory(load_book(s.book), datetime.now(UTC).date())
    for playbook in ("preflight.yml", "health_check.yml"):
        result = run_playbook(s, playbook, inventory, [GOOD], check=True)
        good = result.hosts[GOOD]
        assert not good.failed and good.changed == 0, (playbook, good)

