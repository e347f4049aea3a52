"""PURE: the pricing basis of each contract, from ``tariffs.yml`` and the counts in the book.

- software maintenance: licences in use × price per licence kind
- hosting: extensions × hosting price per extension (software and server maintenance included)
- hardware maintenance: hardware purchase cost × percent per year / 12
- SLA: extensions × the rate of the first tariff whose reaction time is >= the SLA's
- hour package: hours × hour rate (a one-off price, not part of the monthly total)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from ..errors import ConfigError
from ..model import (
    Contract,
    Customer,
    HardwareMaintenance,
    Hosting,
    HourPackage,
    Sla,
    SoftwareMaintenance,
    System,
    Tariffs,
)


@dataclass(frozen=True)
class PriceLine:
    customer: str
    contract: str
    kind: str
    basis: str  # how the amount was computed, in words a manager checks by hand
    monthly: float  # 0 for one-off lines
    one_off: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _covered(customer: Customer, contract: Contract) -> list[System]:
    return [s for s in customer.systems if not contract.systems or s.hostname in contract.systems]


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def _software(c: Customer, k: SoftwareMaintenance, t: Tariffs) -> PriceLine:
    counts: dict[str, int] = {}
    for system in _covered(c, k):
        for lic in system.licences:
            counts[lic.kind] = counts.get(lic.kind, 0) + lic.count
    parts, total = [], 0.0
    for kind, n in sorted(counts.items()):
        if kind not in t.software_per_licence:
            raise ConfigError(
                f"tariffs.yml has no software_per_licence price for licence kind {kind!r} "
                f"(customer {c.id}, contract {k.id})"
            )
        price = t.software_per_licence[kind]
        parts.append(f"{n} {kind} × {price:.2f}")
        total += n * price
    return PriceLine(c.id, k.id, k.kind, " + ".join(parts) or "no licences", _money(total))


def _extensions(c: Customer, k: Contract) -> int:
    return sum(s.extensions for s in _covered(c, k))


def _hosting(c: Customer, k: Hosting, t: Tariffs) -> PriceLine:
    n, price = _extensions(c, k), t.hosting_per_extension
    return PriceLine(c.id, k.id, k.kind, f"{n} extensions × {price:.2f}", _money(n * price))


def _hardware(c: Customer, k: HardwareMaintenance, t: Tariffs) -> PriceLine:
    cost = sum(s.hardware_cost for s in _covered(c, k))
    pct = t.hardware_percent_per_year
    basis = f"hardware cost {cost:.2f} × {pct:g} % / 12"
    return PriceLine(c.id, k.id, k.kind, basis, _money(cost * pct / 100 / 12))


def sla_rate(tariffs: Tariffs, reaction_hours: float) -> float:
    """Per-extension rate: the first tariff whose reaction time is >= the SLA's."""
    fitting = [r for r in tariffs.sla_rates if r.reaction_hours >= reaction_hours]
    if not fitting:
        raise ConfigError(f"tariffs.yml has no sla_rates entry for {reaction_hours:g} h reaction")
    return min(fitting, key=lambda r: r.reaction_hours).per_extension


def _sla(c: Customer, k: Sla, t: Tariffs) -> PriceLine:
    n, rate = _extensions(c, k), sla_rate(t, k.reaction_hours)
    basis = f"{n} extensions × {rate:.2f} ({k.reaction_hours:g} h reaction, {k.hours_basis})"
    return PriceLine(c.id, k.id, k.kind, basis, _money(n * rate))


def _hours(c: Customer, k: HourPackage, t: Tariffs) -> PriceLine:
    basis = f"{k.hours:g} h × {t.hour_rate:.2f} (package {k.start}..{k.end or 'open'})"
    return PriceLine(c.id, k.id, k.kind, basis, 0.0, _money(k.hours * t.hour_rate))


def _line(c: Customer, k: Contract, t: Tariffs) -> PriceLine:
    if isinstance(k, SoftwareMaintenance):
        return _software(c, k, t)
    if isinstance(k, Hosting):
        return _hosting(c, k, t)
    if isinstance(k, HardwareMaintenance):
        return _hardware(c, k, t)
    if isinstance(k, Sla):
        return _sla(c, k, t)
    return _hours(c, k, t)


def pricing(customers: Sequence[Customer], tariffs: Tariffs, on: date) -> list[PriceLine]:
    """One line per contract active on ``on``; raises ConfigError for a missing tariff."""
    return [_line(c, k, tariffs) for c in customers for k in c.contracts if k.active_on(on)]


def monthly_totals(lines: Sequence[PriceLine]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in lines:
        totals[line.customer] = _money(totals.get(line.customer, 0.0) + line.monthly)
    return totals
