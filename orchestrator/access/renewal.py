"""Host certificates renewed before they expire, by a daily systemd timer.

Host certificates last ``HOST_CERT_DAYS`` (30); any grant re-signs those within
``HOST_CERT_RENEW_DAYS`` (10) of their end. ``renew`` finds the customers with such a host
(or an active tunnel whose host has no valid certificate) and grants them again — that
keeps the WireGuard keys and technicians' certificates, and only re-signs what is due.
``pbxops access renew --schedule`` installs ``pbxops-access-renew.timer`` (daily, catching
up after downtime), which runs ``pbxops access renew`` with the settings of that moment.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import systemd
from ..errors import PbxopsError
from ..ledger import Ledger
from ..ledger.access import allocations, certificates
from ..settings import Settings
from . import service
from .context import open_context

UNIT = "pbxops-access-renew"


@dataclass(frozen=True)
class Due:
    customer_id: str
    hostname: str
    valid_before: datetime | None  # None: no valid certificate at all


@dataclass(frozen=True)
class Renewal:
    customer_id: str
    hosts: tuple[str, ...]
    error: str = ""


def due_hosts(ledger: Ledger, now: datetime, within: timedelta) -> list[Due]:
    """Hosts of active tunnels whose newest valid host certificate ends within ``within``."""
    due = []
    for a in allocations(ledger):
        if a.status != "active":
            continue
        valid = [c.valid_before for c in certificates(ledger, subject=a.node, kind="host")
                 if c.valid_at(now)]
        end = max(valid) if valid else None
        if end is None or end - now <= within:
            due.append(Due(a.customer_id, a.node, end))
    return due


def renew(settings: Settings, actor: str, now: datetime | None = None) -> list[Renewal]:
    """Grant again every customer with a host certificate due; one failure does not stop
    the others (each is said in its Renewal)."""
    ctx = open_context(settings, now)
    within = timedelta(days=service.HOST_CERT_RENEW_DAYS)
    by_customer: dict[str, list[str]] = {}
    for d in due_hosts(ctx.ledger, ctx.now, within):
        by_customer.setdefault(d.customer_id, []).append(d.hostname)
    done = []
    for customer_id, hosts in sorted(by_customer.items()):
        try:
            result = service.grant(settings, customer_id, actor, now=now)
            errors = "; ".join(f"{h.hostname}: {h.error}" for h in result.failed)
            done.append(Renewal(customer_id, tuple(hosts), errors))
        except PbxopsError as exc:
            done.append(Renewal(customer_id, tuple(hosts), str(exc)))
    return done


@dataclass(frozen=True)
class Units:
    service: str
    timer: str


def render_units(argv: Sequence[str], workdir: str, env: Mapping[str, str] | None = None
                 ) -> Units:
    """A oneshot service running ``argv`` and a daily timer for it (Persistent: a day the
    controller was off is caught up at boot; spread over an hour)."""
    exec_start = " ".join(systemd.quote(a) for a in argv)
    service_text = (
        "[Unit]\n"
        "Description=pbxops: renew SSH host certificates before they expire\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={systemd.quote(workdir)}\n"
        + "".join(f"Environment={systemd.quote(f'{k}={v}')}\n" for k, v in (env or {}).items())
        + f"ExecStart={exec_start}\n"
    )
    timer = (
        "[Unit]\nDescription=pbxops: daily renewal of SSH host certificates\n\n"
        "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=1h\nPersistent=true\n"
        f"Unit={UNIT}.service\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return Units(service_text, timer)


def schedule(settings: Settings, actor: str) -> str:
    """Install the daily timer; the path of the settings file its runs use."""
    systemd.require_booted()
    config = systemd.settings_file(settings, "access-renew")
    argv = [sys.executable, "-m", "orchestrator.cli", "--config", str(config),
            "access", "renew"]
    units = render_units(argv, str(settings.project_dir),
                         env={"PBXOPS_ACTOR": f"scheduler (for {actor})"})
    systemd.install_timer(settings.systemd_unit_dir, UNIT, units.service, units.timer)
    return str(config)


def unschedule(settings: Settings) -> bool:
    return systemd.remove_timer(settings.systemd_unit_dir, UNIT)
