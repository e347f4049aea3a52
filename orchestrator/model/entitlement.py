"""Entitlement to software updates: THE rule every wave uses.

- A virtual (hosted) PBX is entitled while its hosting package is active: software and server
  maintenance are included in the package.
- A hardware PBX is entitled only while a software-maintenance contract covering it is active
  on the given date (start and end dates both count as active).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .contract import DEFAULT_REACTION_HOURS, ContractBase, Hosting, Sla, SoftwareMaintenance
from .customer import Customer, System


@dataclass(frozen=True)
class Entitlement:
    customer: str
    hostname: str
    entitled: bool
    reason: str
    contract: str | None  # the contract updates are done under (None if not entitled)


def _describe_inactive(label: str, contracts: Sequence[ContractBase], on: date) -> str:
    """Why none of ``contracts`` is active on ``on``: the last one that ended and the next
    one that starts, each with its own date."""
    if not contracts:
        return f"no {label}"
    ended = [c for c in contracts if c.end is not None and c.end < on]
    future = [c for c in contracts if c.start > on]
    parts = []
    if ended:
        last = max(ended, key=lambda c: c.end or on)
        parts.append(f"{label} {last.id} ended on {last.end}")
    if future:
        first = min(future, key=lambda c: c.start)
        parts.append(f"{'' if ended else label + ' '}{first.id} starts on {first.start}")
    return "; ".join(parts)


def entitlement(customer: Customer, system: System, on: date) -> Entitlement:
    """Whether ``system`` may receive software updates on ``on``, and why."""
    virtual = system.deployment == "virtual"
    kind: type[ContractBase] = Hosting if virtual else SoftwareMaintenance
    label = "hosting package" if virtual else "software-maintenance contract"
    prefix = "virtual PBX: " if virtual else "hardware PBX: "
    candidates = [c for c in customer.contracts_for(system.hostname) if isinstance(c, kind)]
    active = [c for c in candidates if c.active_on(on)]
    if not active:
        reason = prefix + _describe_inactive(label, candidates, on)
        return Entitlement(customer.id, system.hostname, False, reason, None)
    c = active[0]
    until = f"until {c.end}" if c.end else "open-ended"
    included = "updates included in " if virtual else ""
    reason = f"{prefix}{included}{label} {c.id} active ({until})"
    return Entitlement(customer.id, system.hostname, True, reason, c.id)


def active_sla(customer: Customer, hostname: str, on: date) -> Sla | None:
    """The SLA covering ``hostname`` on ``on`` (the shortest reaction time wins)."""
    slas = [c for c in customer.contracts_for(hostname) if isinstance(c, Sla) and c.active_on(on)]
    return min(slas, key=lambda s: s.reaction_hours) if slas else None


def reaction_hours(customer: Customer, hostname: str, on: date) -> float:
    sla = active_sla(customer, hostname, on)
    return sla.reaction_hours if sla else DEFAULT_REACTION_HOURS
