"""Which host certificates the daily renewal picks, and the units that run it. The renewal
itself is `access grant` (lab-tested in tests/lab/test_access_lab.py); installing the timer
needs a controller booted with systemd (the wave timer's lab test shows that path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.access.renewal import UNIT, due_hosts, render_units
from orchestrator.ledger import Ledger
from orchestrator.ledger.access import (
    CertificateRequest,
    allocate,
    record_certificate,
    revoke_certificates,
    set_allocation,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WITHIN = timedelta(days=10)


def _host(ledger: Ledger, customer: str, node: str, *ends: timedelta, active: bool = True
          ) -> list[int]:
    allocate(ledger, customer, "hq", node, lambda used: f"10.250.0.{len(used) + 2}")
    set_allocation(ledger, customer, node, "active" if active else "pending", "k")
    serials = []
    for end in ends:
        req = CertificateRequest("host", node, customer, None, (node,), "ssh-ed25519 AAAA",
                                 NOW - timedelta(days=20), NOW + end)
        serials.append(record_certificate(ledger, req, lambda s: f"cert {s}")[0].serial)
    return serials


def test_due_are_hosts_whose_newest_valid_certificate_ends_soon(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    _host(ledger, "fresh", "fresh-pbx", timedelta(days=25))
    _host(ledger, "soon", "soon-pbx", timedelta(days=9))
    _host(ledger, "renewed", "renewed-pbx", timedelta(days=3), timedelta(days=29))
    _host(ledger, "none", "none-pbx")
    _host(ledger, "expired", "expired-pbx", timedelta(days=-1))
    [revoked] = _host(ledger, "revoked", "revoked-pbx", timedelta(days=25))
    revoke_certificates(ledger, [revoked], NOW)
    _host(ledger, "pending", "pending-pbx", timedelta(days=1), active=False)
    due = {d.hostname: d.valid_before for d in due_hosts(ledger, NOW, WITHIN)}
    assert due == {"soon-pbx": NOW + timedelta(days=9), "none-pbx": None,
                   "expired-pbx": None, "revoked-pbx": None}


def test_the_timer_runs_daily_and_catches_up() -> None:
    units = render_units(["/opt/venv/bin/python", "-m", "orchestrator.cli", "--config",
                          "/var/lib/pbxops/state dir/schedule/access-renew.yml",
                          "access", "renew"], "/opt/pbxops",
                         env={"PBXOPS_ACTOR": "scheduler (for ops)"})
    assert "OnCalendar=daily\n" in units.timer and "Persistent=true\n" in units.timer
    assert f"Unit={UNIT}.service" in units.timer
    assert ('ExecStart=/opt/venv/bin/python -m orchestrator.cli --config '
            '"/var/lib/pbxops/state dir/schedule/access-renew.yml" access renew') in units.service
    assert 'Environment="PBXOPS_ACTOR=scheduler (for ops)"' in units.service
