"""PURE: which contract an incident on a customer's system falls under, and its clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..model import DEFAULT_REACTION_HOURS, Customer, active_sla, entitlement
from .clock import reaction_deadline

DEFAULT_BASIS = "24x7"
DEFAULT_BUSINESS_HOURS = ("mon-fri 08:00-18:00",)


@dataclass(frozen=True)
class Terms:
    """The reaction terms an incident is opened under."""

    contract: str | None  # the SLA, else the maintenance/hosting contract, else None
    tier: str | None
    reaction_hours: float
    basis: str  # 24x7 | business
    business_hours: tuple[str, ...]

    def deadline(self, customer: Customer, opened: datetime) -> datetime:
        return reaction_deadline(
            opened, self.reaction_hours, self.basis, self.business_hours, customer.tz
        )


def terms_for(customer: Customer, hostname: str | None, on: datetime) -> Terms:
    """The SLA covering ``hostname`` (any system of the customer when None) on that day;
    without one, the default 48 h around the clock under the maintenance contract."""
    day = on.astimezone(customer.tz).date()
    hosts = [hostname] if hostname else [s.hostname for s in customer.systems]
    slas = [s for h in hosts if (s := active_sla(customer, h, day)) is not None]
    if slas:
        sla = min(slas, key=lambda s: s.reaction_hours)
        return Terms(sla.id, sla.tier, sla.reaction_hours, sla.hours_basis, sla.business_hours)
    return Terms(
        _maintenance(customer, hosts, on),
        None,
        DEFAULT_REACTION_HOURS,
        DEFAULT_BASIS,
        DEFAULT_BUSINESS_HOURS,
    )


def _maintenance(customer: Customer, hosts: list[str], on: datetime) -> str | None:
    day = on.astimezone(customer.tz).date()
    for system in customer.systems:
        if system.hostname in hosts:
            ent = entitlement(customer, system, day)
            if ent.contract:
                return ent.contract
    return None
