"""``health sweep`` and ``health watch``: the sweep, incidents for failing hosts, metrics.

A failing host opens at most one incident while one is open for it; later sweeps that
still see it failing leave that incident alone (no mail storm).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..fleet import Fleet
from ..ledger import Ledger
from ..ledger import sla as store
from ..sla import incidents
from ..sla.notify import Mailer
from .checks import HostHealth
from .prom import SweepCollector, serve, write_textfile
from .sweep import SweepOptions, SweepResult, sweep

ACTOR = "pbxops-health"


@dataclass(frozen=True)
class SweepOutcome:
    result: SweepResult
    opened: tuple[incidents.Opened, ...]
    already_open: tuple[str, ...]  # tickets that stay open for still-failing hosts


def _title(h: HostHealth) -> str:
    """One line (a check's message may carry a host's multi-line output), within the
    length an incident title may have."""
    text = " ".join((f"{h.host}: " + "; ".join(c.message for c in h.failing)).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= incidents.MAX_TITLE else text[: incidents.MAX_TITLE - 1] + "…"


def open_for_failing(
    fleet: Fleet, ledger: Ledger, mailer: Mailer | None, result: SweepResult, now: datetime
) -> tuple[tuple[incidents.Opened, ...], tuple[str, ...]]:
    opened: list[incidents.Opened] = []
    kept: list[str] = []
    for h in result.failing:
        existing = store.open_incident_for_host(ledger, h.host)
        if existing is not None:
            kept.append(existing.ticket)
            continue
        opened.append(
            incidents.open_incident(
                fleet,
                ledger,
                mailer,
                customer_id=h.customer,
                host=h.host,
                title=_title(h),
                actor=ACTOR,
                now=now,
                source="sweep",
                checks=[f"{c.name}: {c.message}" for c in h.failing],
            )
        )
    return tuple(opened), tuple(kept)


def run_sweep(
    fleet: Fleet,
    ledger: Ledger | None,
    mailer: Mailer | None,
    opts: SweepOptions,
    customers: tuple[str, ...] = (),
    textfile: Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    waves: Ledger | None = None,
) -> SweepOutcome:
    """Sweep, write the textfile, open incidents (``ledger=None``: report only). The waves
    that make a release due are read from ``waves`` (default: ``ledger``)."""
    result = sweep(fleet, list(fleet.hosts(customers)), opts, clock, waves or ledger)
    if textfile is not None:
        write_textfile(result, textfile)
    if ledger is None:
        return SweepOutcome(result, (), ())
    opened, kept = open_for_failing(fleet, ledger, mailer, result, clock())
    return SweepOutcome(result, opened, kept)


def watch(
    sweep_once: Callable[[], SweepOutcome],
    interval: float,
    port: int | None,
    count: int | None = None,
    report: Callable[[SweepOutcome], None] = lambda _: None,
    addr: str = "127.0.0.1",
) -> int:
    """Sweep every ``interval`` seconds (``count`` times; None: forever), serving the latest
    result on ``addr:port`` when given. Returns the number of sweeps done."""
    collector = SweepCollector()
    if port is not None:
        serve(collector, port, addr)
    done = 0
    while count is None or done < count:
        began = time.monotonic()
        outcome = sweep_once()
        collector.update(outcome.result)
        report(outcome)
        done += 1
        if count is None or done < count:
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
    return done
