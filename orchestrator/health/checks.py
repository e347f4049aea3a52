"""PURE: turn what a host reported into checks with ``ok | warn | fail | skip``.

A host is *failing* when any check fails; a failing host opens an incident.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..sipprobe import SipProbeResult

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Thresholds:
    disk_warn_pct: float = 85.0
    disk_fail_pct: float = 95.0
    mem_warn_pct: float = 15.0  # available memory below this: warn
    mem_fail_pct: float = 5.0
    cert_warn_days: float = 30.0
    backup_warn_hours: float = 7 * 24.0


@dataclass(frozen=True)
class HostFacts:
    """What the controller learned over SSH (all None when SSH failed)."""

    ssh_ok: bool
    ssh_error: str = ""
    service: str | None = None  # systemctl is-active
    package_version: str | None = None
    disk_used_pct: float | None = None
    mem_available_pct: float | None = None
    cert_not_after: datetime | None = None
    backup_at: datetime | None = None


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    value: float | None = None


@dataclass(frozen=True)
class HostHealth:
    customer: str
    host: str
    address: str
    checks: tuple[Check, ...]
    version: str | None = None
    latest: str | None = None
    elapsed_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        states = {c.status for c in self.checks}
        for level in (FAIL, WARN):
            if level in states:
                return level
        return OK

    @property
    def failing(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _reachable(f: HostFacts) -> Check:
    if f.ssh_ok:
        return Check("reachable", OK, "SSH login works", 1.0)
    return Check("reachable", FAIL, f"SSH failed: {f.ssh_error or 'no answer'}", 0.0)


def _service(f: HostFacts) -> Check:
    if not f.ssh_ok:
        return Check("service", SKIP, "host not reachable over SSH")
    if f.service == "active":
        return Check("service", OK, "PBX service active", 1.0)
    return Check("service", FAIL, f"PBX service {f.service or 'unknown'}", 0.0)


def _sip(sip: SipProbeResult) -> Check:
    if sip.status == 200:
        return Check("sip", OK, f"200 {sip.reason} in {sip.elapsed_ms:.0f} ms", sip.elapsed_ms)
    if sip.status is None:
        return Check("sip", FAIL, f"SIP OPTIONS not answered: {sip.error}")
    return Check("sip", FAIL, f"SIP OPTIONS answered {sip.status} {sip.reason}", sip.elapsed_ms)


def _version(f: HostFacts, sip: SipProbeResult, latest: str | None) -> Check:
    running = sip.version
    if running is None:
        return Check("version", SKIP, "no version in the SIP answer")
    if f.package_version and f.package_version != running:
        msg = f"SIP answers {running} but package {f.package_version} is installed (restart?)"
        return Check("version", WARN, msg)
    if latest and _version_key(running) < _version_key(latest):
        return Check("version", WARN, f"{running} behind catalogue {latest}")
    return Check("version", OK, f"{running} (catalogue {latest or '-'})")


def _level(value: float, warn: float, fail: float, higher_is_worse: bool) -> str:
    if higher_is_worse:
        return FAIL if value >= fail else WARN if value >= warn else OK
    return FAIL if value <= fail else WARN if value <= warn else OK


def _disk(f: HostFacts, t: Thresholds) -> Check:
    if f.disk_used_pct is None:
        return Check("disk", SKIP, "not measured")
    level = _level(f.disk_used_pct, t.disk_warn_pct, t.disk_fail_pct, True)
    return Check("disk", level, f"{f.disk_used_pct:.0f} % of / used", f.disk_used_pct)


def _memory(f: HostFacts, t: Thresholds) -> Check:
    if f.mem_available_pct is None:
        return Check("memory", SKIP, "not measured")
    level = _level(f.mem_available_pct, t.mem_warn_pct, t.mem_fail_pct, False)
    msg = f"{f.mem_available_pct:.0f} % memory available"
    return Check("memory", level, msg, f.mem_available_pct)


def _certificate(f: HostFacts, t: Thresholds, now: datetime) -> Check:
    if f.cert_not_after is None:
        return Check("certificate", SKIP, "no certificate installed")
    days = (f.cert_not_after - now).total_seconds() / 86400
    level = FAIL if days <= 0 else WARN if days < t.cert_warn_days else OK
    return Check("certificate", level, f"expires in {days:.0f} days", round(days, 1))


def _backup(f: HostFacts, t: Thresholds, now: datetime) -> Check:
    if not f.ssh_ok:
        return Check("backup", SKIP, "host not reachable over SSH")
    if f.backup_at is None:
        return Check("backup", WARN, "no backup found")
    hours = (now - f.backup_at).total_seconds() / 3600
    level = WARN if hours > t.backup_warn_hours else OK
    return Check("backup", level, f"last backup {hours:.0f} h ago", round(hours, 1))


def evaluate(
    facts: HostFacts, sip: SipProbeResult, latest: str | None, now: datetime, t: Thresholds
) -> tuple[Check, ...]:
    """Every check of one host, in a fixed order."""
    return (
        _reachable(facts),
        _service(facts),
        _sip(sip),
        _version(facts, sip, latest),
        _disk(facts, t),
        _memory(facts, t),
        _certificate(facts, t, now),
        _backup(facts, t, now),
    )
