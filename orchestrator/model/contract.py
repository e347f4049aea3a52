"""Contracts: what a customer bought, each with a validity period.

- ``software_maintenance``: updates, free diagnosis; priced on licences.
- ``hardware_maintenance``: spare parts and swaps; priced on hardware cost; only with an SLA.
- ``sla``: reaction time (default without SLA: 48 h), channels, monitoring, remote access.
- ``hour_package``: hours for configuration changes, for a period.
- ``hosting``: the monthly package of a virtual PBX; includes software and server maintenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import Frozen
from .window import parse_slot

DEFAULT_REACTION_HOURS = 48.0


class ContractBase(Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
    start: date
    end: date | None = None  # None: open-ended
    systems: tuple[str, ...] = ()  # hostnames covered; empty: every system of the customer
    notes: str = ""

    @model_validator(mode="after")
    def _ends_after_start(self) -> ContractBase:
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"contract {self.id} ends ({self.end}) before it starts ({self.start})"
            )
        return self

    def active_on(self, day: date) -> bool:
        """Both boundary dates are inside the contract."""
        return self.start <= day and (self.end is None or day <= self.end)

    def covers_period(self, start: date, end: date | None) -> bool:
        if self.start > start:
            return False
        if self.end is None:
            return True
        return end is not None and self.end >= end


Gap = tuple[date, date | None]  # first and last uncovered day (None: open end)


def uncovered(start: date, end: date | None, cover: Sequence[ContractBase]) -> list[Gap]:
    """The stretches of ``start``..``end`` (inclusive; None: open-ended) on which none of
    ``cover`` is active. Back-to-back contracts (one ends on D, the next starts on D+1)
    cover the period together."""
    gaps: list[Gap] = []
    cursor = start
    for k in sorted(cover, key=lambda c: c.start):
        if end is not None and k.start > end:
            break
        if k.end is not None and k.end < cursor:
            continue
        if k.start > cursor:
            gaps.append((cursor, k.start - timedelta(days=1)))
        if k.end is None or (end is not None and k.end >= end):
            return gaps
        cursor = k.end + timedelta(days=1)
    gaps.append((cursor, end))
    return gaps


class SoftwareMaintenance(ContractBase):
    kind: Literal["software_maintenance"]
    call_drain_minutes: int = Field(default=30, ge=0, le=240)
    # after an update the phones registered before must register again within this bound
    # (above the phones' registration refresh; pbxops' phone files register for 300 s)
    registration_recovery_minutes: int = Field(default=10, ge=1, le=120)


class Hosting(ContractBase):
    kind: Literal["hosting"]
    call_drain_minutes: int = Field(default=30, ge=0, le=240)
    # after an update the phones registered before must register again within this bound
    # (above the phones' registration refresh; pbxops' phone files register for 300 s)
    registration_recovery_minutes: int = Field(default=10, ge=1, le=120)


class HardwareMaintenance(ContractBase):
    kind: Literal["hardware_maintenance"]


class Sla(ContractBase):
    kind: Literal["sla"]
    tier: Literal["bronze", "silver", "gold", "platinum"]
    reaction_hours: float = Field(gt=0, le=168)
    hours_basis: Literal["24x7", "business"] = "24x7"
    # when the reaction clock runs for ``hours_basis: business`` (customer's timezone)
    business_hours: tuple[str, ...] = ("mon-fri 08:00-18:00",)
    channels: tuple[Literal["email", "phone", "ticket"], ...] = ("email",)
    monitoring: bool = True
    remote_access: bool = True

    @field_validator("business_hours")
    @classmethod
    def _business_hours_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("business_hours needs at least one slot")
        for text in value:
            parse_slot(text)
        return value


class HourPackage(ContractBase):
    kind: Literal["hour_package"]
    hours: float = Field(gt=0)


Contract = Annotated[
    SoftwareMaintenance | Hosting | HardwareMaintenance | Sla | HourPackage,
    Field(discriminator="kind"),
]
