"""Gates checked when a host's turn comes, not only at plan time: the contract (entitled
on the start date in the customer's timezone), then the maintenance window (never start
after it closed or with less than the minimum left). The release not being marked failed
is the wave-wide halt verdict (budget.py), checked before each group of hosts starts; the
host not being locked by another wave is the run's lock (locks.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ..fleet import Fleet, HostRef
from ..model import entitlement
from ..planner import MIN_RUN_WINDOW, window_decision


class Gate(StrEnum):
    START = "start"
    EXCLUDE = "exclude"  # contract not active on the start date
    WAIT = "wait"  # window closed or too short; opens at ``at``
    DEFER = "defer"  # no window within the horizon


@dataclass(frozen=True)
class GateDecision:
    hostname: str
    gate: Gate
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Gates:
    refs: Mapping[str, HostRef]  # the book as it is now, by hostname
    ignore_windows: bool
    min_window_left: timedelta
    horizon_days: int

    @classmethod
    def of(cls, fleet: Fleet, horizon_days: int, *, ignore_windows: bool = False,
           min_window_left: timedelta = MIN_RUN_WINDOW) -> Gates:
        """The gates over the book as it is now (one pass over its hosts)."""
        return cls({r.hostname: r for r in fleet.hosts()}, ignore_windows, min_window_left,
                   horizon_days)

    def check(self, hostname: str, now: datetime) -> GateDecision:
        ref = self.refs.get(hostname)
        if ref is None:
            return GateDecision(hostname, Gate.EXCLUDE, "no longer in the contract book")
        local = now.astimezone(ref.customer.tz).date()
        ent = entitlement(ref.customer, ref.system, local)
        if not ent.entitled:
            return GateDecision(hostname, Gate.EXCLUDE,
                                f"not entitled on {local} (start date, customer's time): "
                                f"{ent.reason}")
        if self.ignore_windows:
            return GateDecision(hostname, Gate.START)
        d = window_decision(ref.system.maintenance_window, ref.customer.tz, now,
                            self.min_window_left, self.horizon_days)
        if d.action == "start":
            return GateDecision(hostname, Gate.START)
        if d.action == "wait" and d.at is not None:
            opens = d.at.astimezone(ref.customer.tz).isoformat(timespec="minutes")
            minutes = int(self.min_window_left.total_seconds() // 60)
            return GateDecision(hostname, Gate.WAIT,
                                f"not started: its maintenance window is closed or has less "
                                f"than {minutes} minutes left; waits for the opening at {opens}",
                                d.at)
        return GateDecision(hostname, Gate.DEFER,
                            "no maintenance window opening within the horizon")
