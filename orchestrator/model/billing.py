"""PURE: who pays for work on a customer's system. The incident's cause and the contracts
decide, never the technician's memory:

- ``free``: covered by a contract and recorded without debiting anything: diagnosis of a
  PBX-software fault under the software-maintenance contract (or, for a virtual PBX, the
  hosting package); a hardware fault under hardware maintenance.
- ``package``: configuration work, debited from the active hour package.
- ``billable``: not covered: a third-party fault (carrier, LAN, customer equipment, even
  with maintenance and an hour package), a fault no contract covers, work without an hour
  package or beyond an exhausted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from .contract import HardwareMaintenance
from .customer import Customer, System
from .entitlement import entitlement


class Billing(StrEnum):
    FREE = "free"  # covered by a contract: recorded, not debited
    PACKAGE = "package"  # debited from the hour package
    BILLABLE = "billable"  # invoiced as work


class Cause(StrEnum):
    PBX_SOFTWARE = "pbx-software"
    CONFIGURATION = "configuration"
    HARDWARE = "hardware"
    THIRD_PARTY = "third-party"
    UNKNOWN = "unknown"


CAUSE_TEXT = {
    Cause.PBX_SOFTWARE: "fault of the PBX software (diagnosis free under maintenance)",
    Cause.CONFIGURATION: "configuration change needed (booked on the hour package)",
    Cause.HARDWARE: "hardware fault (hardware maintenance)",
    Cause.THIRD_PARTY: "caused by a third party (carrier, LAN, customer equipment): billable",
    Cause.UNKNOWN: "cause not determined (hour package, else billable)",
}


@dataclass(frozen=True)
class Verdict:
    """How work is paid for, why, and under which contract (the covering contract when
    free, the hour package when on the package)."""

    billing: Billing
    reason: str
    contract: str | None = None

    def __str__(self) -> str:
        return f"{self.billing}: {self.reason}"


def _systems(customer: Customer, host: str | None) -> Iterator[System]:
    return (s for s in customer.systems if host is None or s.hostname == host)


def _maintenance(customer: Customer, host: str | None, day: date) -> str | None:
    """The software-maintenance or hosting contract covering the system on ``day``."""
    for system in _systems(customer, host):
        ent = entitlement(customer, system, day)
        if ent.contract:
            return ent.contract
    return None


def _hardware(customer: Customer, host: str | None, day: date) -> str | None:
    for system in _systems(customer, host):
        for k in customer.contracts_for(system.hostname):
            if isinstance(k, HardwareMaintenance) and k.active_on(day):
                return k.id
    return None


def _where(host: str | None) -> str:
    return host or "any of the customer's systems"


def for_cause(customer: Customer, host: str | None, cause: Cause, day: date) -> Verdict | None:
    """The verdict the cause alone decides on ``day``; None for configuration work and
    undetermined causes (they go on the hour package, else they are billable)."""
    if cause is Cause.THIRD_PARTY:
        return Verdict(
            Billing.BILLABLE,
            "third-party fault (carrier, LAN, customer equipment): no contract covers it",
        )
    if cause is Cause.PBX_SOFTWARE:
        swm = _maintenance(customer, host, day)
        if swm:
            return Verdict(
                Billing.FREE, f"diagnosis of a PBX-software fault, included in {swm}", swm
            )
        return Verdict(
            Billing.BILLABLE,
            f"PBX-software fault, but no software-maintenance or hosting contract covers "
            f"{_where(host)} on {day}",
        )
    if cause is Cause.HARDWARE:
        hwm = _hardware(customer, host, day)
        if hwm:
            return Verdict(
                Billing.FREE, f"hardware fault, included in hardware maintenance {hwm}", hwm
            )
        return Verdict(
            Billing.BILLABLE,
            f"hardware fault, but no hardware-maintenance contract covers {_where(host)} on {day}",
        )
    return None


def on_package(package: str, cause: Cause | None) -> Verdict:
    if cause is Cause.UNKNOWN:
        return Verdict(Billing.PACKAGE, f"cause not determined: on hour package {package}", package)
    return Verdict(Billing.PACKAGE, f"configuration work on hour package {package}", package)


def no_package(day: date) -> Verdict:
    return Verdict(Billing.BILLABLE, f"no active hour package on {day}")


def exhausted(package: str) -> Verdict:
    return Verdict(Billing.BILLABLE, f"hour package {package} is exhausted")


REQUESTED = Verdict(Billing.BILLABLE, "booked as billable on request (--billable)")
