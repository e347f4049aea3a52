"""What version each host should run, by the rules that already exist (no second copy):

- *entitled*: ``model.entitlement`` on the customer's date today, and the planner's
  ``release_excludes`` (platform, minimum OS) for the release;
- *due*: a wave (not aborted) planned the release for the host, the host's planned window
  start (the planner's, stored in the wave's plan) has passed, and the host is not at the
  target in that wave (pending, failed, rolled back or refused by the pre-checks).

The sweep warns "behind" only for a due release the customer is still entitled to; a newer
release nobody planned is shown, not warned about.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..fleet import Fleet, HostRef
from ..ledger import Ledger
from ..ledger.waves import host_rows, list_waves
from ..model import PbxRelease
from ..model.entitlement import entitlement
from ..planner import release_excludes
from ..waves.states import HostState, WaveState
from .checks import DueRelease, VersionExpectation

# A host in these states of a wave did not reach the wave's target.
NOT_AT_TARGET = (HostState.PENDING, HostState.FAILED, HostState.ROLLED_BACK, HostState.SKIPPED)
WAVES_READ = 200  # the newest waves looked at


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _entitled(ref: HostRef, release: PbxRelease, now: datetime) -> bool:
    today = now.astimezone(ref.customer.tz).date()
    ent = entitlement(ref.customer, ref.system, today)
    return ent.entitled and release_excludes(ref, release) is None


def _available(fleet: Fleet, ref: HostRef, now: datetime) -> str | None:
    versions = [
        r.version
        for r in fleet.catalog.releases
        if isinstance(r, PbxRelease) and _entitled(ref, r, now)
    ]
    return max(versions, key=_key, default=None)


def _planned_starts(plan: dict[str, Any]) -> dict[str, str]:
    return {
        h["hostname"]: h.get("window_start", "")
        for b in plan.get("batches", [])
        for h in b.get("hosts", [])
    }


def _due(
    fleet: Fleet, refs: dict[str, HostRef], ledger: Ledger, now: datetime
) -> dict[str, DueRelease]:
    found: dict[str, DueRelease] = {}
    for wave in reversed(list_waves(ledger, WAVES_READ)):  # oldest first: newer waves win
        release = fleet.catalog.release(wave.release_id)
        if wave.status == WaveState.ABORTED or not isinstance(release, PbxRelease):
            continue
        starts = _planned_starts(wave.plan)
        for row in host_rows(ledger, wave.id):
            ref = refs.get(row.hostname)
            start = starts.get(row.hostname, "")
            if ref is None or row.status not in NOT_AT_TARGET or not start:
                continue
            if datetime.fromisoformat(start) >= now or not _entitled(ref, release, now):
                continue
            seen = found.get(row.hostname)
            if seen is None or _key(release.version) >= _key(seen.version):
                found[row.hostname] = DueRelease(
                    release.id, release.version, wave.id, start, row.status, wave.status
                )
    return found


def expectations(
    fleet: Fleet, hosts: Iterable[HostRef], ledger: Ledger | None, now: datetime
) -> dict[str, VersionExpectation]:
    """Per hostname: the newest entitled release and the due one (None without a ledger)."""
    refs = {r.hostname: r for r in hosts}
    due = _due(fleet, refs, ledger, now) if ledger is not None else {}
    return {
        name: VersionExpectation(_available(fleet, ref, now), due.get(name))
        for name, ref in refs.items()
    }
