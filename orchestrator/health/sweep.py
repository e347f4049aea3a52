"""The health sweep: every host's checks, run in parallel.

Per host, two probes run side by side from the controller: one SSH session that prints the
host's facts as ``key=value`` lines (the same facts ``playbooks/health_check.yml`` gathers),
and one SIP OPTIONS request over UDP. Hosts are spread over a thread pool (``workers``);
``workers=1`` is the one-host-after-another baseline the benchmark compares against.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from ..fleet import Fleet, HostRef
from ..ledger import Ledger
from ..platforms import profile
from ..sipprobe import SipProbeResult, probe
from .checks import HostFacts, HostHealth, Thresholds, VersionExpectation, evaluate
from .expect import expectations

# Printed by the host; keep in step with roles/pbx_health/tasks/main.yml. Arguments: the
# host's PBX profile (orchestrator/platforms.py): service, package, version command
# (a profile constant; empty: the package's dpkg version), certificate, backup directory.
FACTS_SCRIPT = r"""
svc="$1"; pkg="$2"; vcmd="$3"; cert="$4"; backups="$5"
echo "service=$(systemctl is-active "$svc.service" 2>/dev/null || true)"
if [ -n "$vcmd" ]; then v=$(sh -c "$vcmd" 2>/dev/null || true)
else v=$(dpkg-query --show --showformat='${Version}' "$pkg" 2>/dev/null || true); fi
[ -n "$v" ] && echo "package_version=$v"
df -P / | awk 'NR==2 {sub("%","",$5); print "disk_used_pct=" $5}'
awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {if (t) printf "mem_available_pct=%.1f\n", a*100/t}' /proc/meminfo
[ -r "$cert" ] && echo "cert_pem_b64=$(base64 -w0 "$cert")"
# The backup directory is root's (0700): read it as root (sudo -n when not root); an error
# is reported as backup_error, never as "no backup".
echo "backup_dir=$backups"
if [ "$(id -u)" -eq 0 ]; then root=""; else root="sudo -n"; fi
if ! err=$($root true 2>&1); then
  echo "backup_error=$(printf '%s' "sudo -n: ${err:-refused}" | tr '\n' ' ')"
elif ! $root test -e "$backups"; then echo "backup_missing=1"
elif out=$($root find "$backups" -maxdepth 1 -type f -printf '%T@\n' 2>&1); then
  newest=$(printf '%s\n' "$out" | sort -n | tail -n1)
  [ -n "$newest" ] && echo "backup_epoch=${newest%.*}"
else echo "backup_error=$(printf '%s' "$out" | tail -n1 | tr '\n' ' ')"; fi
exit 0
"""


@dataclass(frozen=True)
class SweepOptions:
    ssh_config: Path | None = None  # e.g. the lab's ssh_config; None: the user's own
    workers: int = 32
    ssh_timeout: float = 8.0
    sip_timeout: float = 2.0
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class SweepResult:
    started: datetime
    duration_s: float
    hosts: tuple[HostHealth, ...]
    workers: int

    @property
    def failing(self) -> tuple[HostHealth, ...]:
        return tuple(h for h in self.hosts if h.failing)


def ssh_argv(ref: HostRef, opts: SweepOptions) -> list[str]:
    base = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(opts.ssh_timeout))}"]
    if opts.ssh_config is not None:
        return [*base, "-F", str(opts.ssh_config), ref.hostname]
    return [*base, str(ref.address)]


def parse_facts(stdout: str) -> HostFacts:
    values = dict(
        line.split("=", 1) for line in stdout.splitlines() if "=" in line and line[0].isalpha()
    )
    return HostFacts(
        ssh_ok=True,
        service=values.get("service") or None,
        package_version=values.get("package_version") or None,
        disk_used_pct=_float(values.get("disk_used_pct")),
        mem_available_pct=_float(values.get("mem_available_pct")),
        cert_not_after=_cert_not_after(values.get("cert_pem_b64")),
        backup_at=_epoch(values.get("backup_epoch")),
        backup_dir=values.get("backup_dir", ""),
        backup_dir_missing=values.get("backup_missing") == "1",
        backup_error=values.get("backup_error", "").strip(),
    )


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _epoch(text: str | None) -> datetime | None:
    value = _float(text)
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _cert_not_after(b64: str | None) -> datetime | None:
    if not b64:
        return None
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(b64))
    except ValueError:
        return None
    return cert.not_valid_after_utc


def facts_argv(ref: HostRef, opts: SweepOptions) -> list[str]:
    """ssh running FACTS_SCRIPT with the host's PBX profile (quoted: ssh hands the remote
    shell one command line)."""
    pbx = profile(ref.system.profile_name)
    args = (pbx.service, pbx.package, pbx.version_command, pbx.cert_path, pbx.backup_dir)
    return [*ssh_argv(ref, opts), "sh", "-s", "--", *map(shlex.quote, args)]


def host_facts(ref: HostRef, opts: SweepOptions) -> HostFacts:
    argv = facts_argv(ref, opts)
    try:
        done = subprocess.run(
            argv,
            input=FACTS_SCRIPT,
            capture_output=True,
            text=True,
            timeout=opts.ssh_timeout + 5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return HostFacts(ssh_ok=False, ssh_error=f"timed out after {opts.ssh_timeout + 5:g}s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return HostFacts(ssh_ok=False, ssh_error=last)
    return parse_facts(done.stdout)


def check_host(
    ref: HostRef,
    expect: VersionExpectation,
    opts: SweepOptions,
    clock: Callable[[], datetime],
) -> HostHealth:
    started = time.monotonic()
    with ThreadPoolExecutor(1) as side:
        sip_future = side.submit(probe, str(ref.address), timeout=opts.sip_timeout)
        facts = host_facts(ref, opts)
        sip: SipProbeResult = sip_future.result()
    if profile(ref.system.profile_name).running_command and facts.package_version:
        # Asterisk's Server header shows the compiled version, not the version of record
        # (platforms.py): the version is the package's. A daemon not restarted after an
        # install is not seen here; the update's running check catches it.
        sip = replace(sip, version=facts.package_version)
    checks = evaluate(facts, sip, expect, clock(), opts.thresholds)
    return HostHealth(
        customer=ref.customer.id,
        host=ref.hostname,
        address=str(ref.address),
        checks=checks,
        version=sip.version,
        latest=expect.available,
        elapsed_s=round(time.monotonic() - started, 3),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def sweep(
    fleet: Fleet,
    hosts: Sequence[HostRef],
    opts: SweepOptions,
    clock: Callable[[], datetime] = _now,
    ledger: Ledger | None = None,
) -> SweepResult:
    """Check every host; one host's trouble is that host's result, never an exception.
    ``ledger``: where the waves are that make a release due (None: none is due)."""
    started, t0 = clock(), time.monotonic()
    expect = expectations(fleet, hosts, ledger, started)
    workers = max(1, min(opts.workers, len(hosts) or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(lambda r: check_host(r, expect[r.hostname], opts, clock), hosts)
        )
    return SweepResult(started, round(time.monotonic() - t0, 3), tuple(results), workers)
