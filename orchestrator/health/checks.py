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
    backup_warn_hours: float = 7 * 24.0  # the setting health_backup_max_age_hours


@dataclass(frozen=True)
class DueRelease:
    """A release a wave planned for this host whose planned start has passed while the host
    is not at its target (``status``: the host's state in that wave)."""

    release: str
    version: str
    wave_id: int
    planned_start: str  # ISO time of the host's planned window start
    status: str  # the host's state in that wave
    wave_status: str = ""


@dataclass(frozen=True)
class VersionExpectation:
    """What the host should run (computed by ``health.expect`` from the book, the planner's
    rules and the ledger's waves): ``available``, the newest release of the host's platform
    the customer is entitled to today (None: none); ``due``, a release that is due."""

    available: str | None = None
    due: DueRelease | None = None


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
    backup_at: datetime | None = None  # newest file in the backup directory
    backup_dir: str = ""
    backup_dir_missing: bool = False  # the directory does not exist (nothing backed up yet)
    backup_error: str = ""  # the probe could not read the directory (not: no backup)


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
    msg = f"PBX service {f.service or 'unknown'}: see systemctl status and journalctl on the host"
    return Check("service", FAIL, msg, 0.0)


def _sip(sip: SipProbeResult) -> Check:
    if sip.status == 200:
        return Check("sip", OK, f"200 {sip.reason} in {sip.elapsed_ms:.0f} ms", sip.elapsed_ms)
    if sip.status is None:
        return Check("sip", FAIL, f"SIP OPTIONS not answered: {sip.error}")
    return Check("sip", FAIL, f"SIP OPTIONS answered {sip.status} {sip.reason}", sip.elapsed_ms)


def _version(f: HostFacts, sip: SipProbeResult, expect: VersionExpectation) -> Check:
    """Behind only for a release that is due (a wave planned it for this host, the
    customer is entitled to it today, its planned start has passed); a newer release the
    customer is entitled to but nobody planned is information, not a warning."""
    running = sip.version
    if running is None:
        return Check("version", SKIP, "no version in the SIP answer")
    if f.package_version and f.package_version != running:
        msg = (f"SIP answers {running} but package {f.package_version} is installed: restart "
               f"the PBX service in the next maintenance window to run what is installed")
        return Check("version", WARN, msg)
    due = expect.due
    if due is not None and _version_key(running) < _version_key(due.version):
        msg = (f"{running} behind {due.version} ({due.release}), due since {due.planned_start} "
               f"in wave {due.wave_id} (host {due.status}): {_due_action(due)}")
        return Check("version", WARN, msg)
    if expect.available and _version_key(running) < _version_key(expect.available):
        return Check("version", OK, f"{running} ({expect.available} entitled, not planned)")
    return Check("version", OK, f"{running} (newest entitled: {expect.available or '-'})")


def _due_action(due: DueRelease) -> str:
    if due.status in ("failed", "rolled_back"):
        return f"see pbxops wave report {due.wave_id}, then pbxops wave retry-failed {due.wave_id}"
    if due.status == "skipped":
        return (f"fix what the pre-checks refused (pbxops wave report {due.wave_id}), then "
                f"plan the release again")
    verb = "run" if due.wave_status == "planned" else "resume"
    return f"pbxops wave {verb} {due.wave_id} (see pbxops wave status {due.wave_id})"


def _level(value: float, warn: float, fail: float, higher_is_worse: bool) -> str:
    if higher_is_worse:
        return FAIL if value >= fail else WARN if value >= warn else OK
    return FAIL if value <= fail else WARN if value <= warn else OK


def _disk(f: HostFacts, t: Thresholds) -> Check:
    if f.disk_used_pct is None:
        return Check("disk", SKIP, "not measured")
    level = _level(f.disk_used_pct, t.disk_warn_pct, t.disk_fail_pct, True)
    msg = f"{f.disk_used_pct:.0f} % of / used"
    if level != OK:
        msg += (f" (warn {t.disk_warn_pct:g} %, fail {t.disk_fail_pct:g} %): free space "
                f"on / (apt-get clean, old logs and backups)")
    return Check("disk", level, msg, f.disk_used_pct)


def _memory(f: HostFacts, t: Thresholds) -> Check:
    if f.mem_available_pct is None:
        return Check("memory", SKIP, "not measured")
    level = _level(f.mem_available_pct, t.mem_warn_pct, t.mem_fail_pct, False)
    msg = f"{f.mem_available_pct:.0f} % memory available"
    if level != OK:
        msg += f" (warn below {t.mem_warn_pct:g} %): find the process that grew (top -o %MEM)"
    return Check("memory", level, msg, f.mem_available_pct)


def _certificate(f: HostFacts, t: Thresholds, now: datetime) -> Check:
    if f.cert_not_after is None:
        return Check("certificate", SKIP, "no certificate installed")
    days = (f.cert_not_after - now).total_seconds() / 86400
    level = FAIL if days <= 0 else WARN if days < t.cert_warn_days else OK
    msg = f"expired {-days:.0f} days ago" if days <= 0 else f"expires in {days:.0f} days"
    if level != OK:
        msg += ": renew the PBX's TLS certificate and restart the PBX service"
    return Check("certificate", level, msg, round(days, 1))


def _backup(f: HostFacts, t: Thresholds, now: datetime) -> Check:
    """The verdict is the newest backup's age against ``backup_warn_hours``; a directory
    the probe could not read is said as such (never as "no backup")."""
    if not f.ssh_ok:
        return Check("backup", SKIP, "host not reachable over SSH")
    where = f.backup_dir or "the backup directory"
    if f.backup_error:
        return Check("backup", WARN, f"cannot read {where}: {f.backup_error}: give the SSH "
                     f"user passwordless sudo (sudo -n) on the host, as the roles need")
    if f.backup_at is None:
        state = "does not exist" if f.backup_dir_missing else "is empty"
        return Check("backup", WARN, f"no configuration backup: {where} {state}; pbxops "
                     f"backs up before every update (pbx_update role): run a wave, or copy "
                     f"the configuration there")
    hours = (now - f.backup_at).total_seconds() / 3600
    if hours > t.backup_warn_hours:
        msg = (f"last backup {hours:.0f} h ago, older than {t.backup_warn_hours:g} h: back up "
               f"the configuration into {where} (or raise health_backup_max_age_hours)")
        return Check("backup", WARN, msg, round(hours, 1))
    return Check("backup", OK, f"last backup {hours:.0f} h ago", round(hours, 1))


def evaluate(
    facts: HostFacts,
    sip: SipProbeResult,
    expect: VersionExpectation,
    now: datetime,
    t: Thresholds,
) -> tuple[Check, ...]:
    """Every check of one host, in a fixed order."""
    return (
        _reachable(facts),
        _service(facts),
        _sip(sip),
        _version(facts, sip, expect),
        _disk(facts, t),
        _memory(facts, t),
        _certificate(facts, t, now),
        _backup(facts, t, now),
    )
