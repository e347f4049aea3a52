"""What pbxops last verified a system runs: the newest wave result per host and kind.

Read-only over the wave tables (``waves.py``): a host row ``done`` or ``already_at_target``
was checked by the run's post-checks at its ``version_after`` (the wave's target when an
older row left it empty). A PBX wave verifies the PBX version, an OS wave the OS release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from .db import Ledger
from .models import as_utc
from .waves import ALREADY_AT_TARGET, DONE, Wave, WaveHost

VERIFIED = (DONE, ALREADY_AT_TARGET)


@dataclass(frozen=True)
class VerifiedVersion:
    hostname: str
    kind: str  # "pbx" | "os"
    version: str
    at: datetime  # when the wave's post-checks verified it (UTC)
    wave_id: int


def last_verified(
    ledger: Ledger, hostnames: Iterable[str]
) -> dict[tuple[str, str], VerifiedVersion]:
    """``{(hostname, kind): newest verified version}`` for ``hostnames``; a host or kind
    no wave ever verified is absent."""
    names = sorted(set(hostnames))
    if not names:
        return {}
    q = (
        select(WaveHost.hostname, Wave.kind, WaveHost.version_after, Wave.target,
               WaveHost.finished_at, WaveHost.started_at, Wave.id)
        .join(Wave, Wave.id == WaveHost.wave_id)
        .where(WaveHost.hostname.in_(names), WaveHost.status.in_(VERIFIED))
    )
    found: dict[tuple[str, str], VerifiedVersion] = {}
    with ledger.session() as s:
        for host, kind, after, target, finished, started, wave_id in s.execute(q):
            moment = finished or started
            if moment is None:
                continue
            at = as_utc(moment)
            seen = found.get((host, kind))
            if seen is None or (at, wave_id) > (seen.at, seen.wave_id):
                found[(host, kind)] = VerifiedVersion(host, kind, after or target, at, wave_id)
    return found
