"""Hour packages: book configuration work, warn when a package runs low or empty.

A booking goes against the customer's active hour package. What the package cannot cover
is booked as billable work (no contract). A customer without an active package can only
get billable bookings, and only when asked for explicitly (``billable=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from ..errors import RefusedError
from ..fleet import Fleet
from ..ledger import Ledger
from ..ledger import sla as store
from ..ledger.sla import HourBooking
from ..model import Customer, HourPackage

LOW_FRACTION = 0.2  # warn when less than a fifth of the package is left


@dataclass(frozen=True)
class Balance:
    customer: str
    contract: str
    hours: float
    used: float
    start: date
    end: date | None

    @property
    def remaining(self) -> float:
        return round(self.hours - self.used, 2)

    @property
    def state(self) -> str:
        if self.remaining <= 0:
            return "empty"
        return "low" if self.remaining < self.hours * LOW_FRACTION else "ok"


@dataclass(frozen=True)
class Booked:
    bookings: tuple[HourBooking, ...]
    balance: Balance | None
    warnings: tuple[str, ...]


def active_package(customer: Customer, day: date) -> HourPackage | None:
    packages = [k for k in customer.contracts if isinstance(k, HourPackage) and k.active_on(day)]
    return min(packages, key=lambda k: k.end or date.max) if packages else None


def balances(fleet: Fleet, ledger: Ledger, customer_id: str, day: date) -> list[Balance]:
    customer = fleet.customer(customer_id)
    return [
        Balance(customer.id, k.id, k.hours, store.booked_hours(ledger, k.id), k.start, k.end)
        for k in customer.contracts
        if isinstance(k, HourPackage) and k.active_on(day)
    ]


def _validate(hours: float, text: str) -> None:
    if hours <= 0:
        raise RefusedError(f"hours must be positive, got {hours:g}")
    if hours > 1000:
        raise RefusedError(f"{hours:g} h in one booking is implausible; split it")
    if not text.strip():
        raise RefusedError("a booking needs a text saying what was done")


def book(
    fleet: Fleet,
    ledger: Ledger,
    *,
    customer_id: str,
    hours: float,
    text: str,
    actor: str,
    now: datetime,
    billable: bool = False,
    incident_id: int | None = None,
) -> Booked:
    """Book ``hours`` of work; nothing is written when the input is refused."""
    _validate(hours, text)
    customer = fleet.customer(customer_id)
    day = now.astimezone(customer.tz).date()
    package = active_package(customer, day)
    if package is None and not billable:
        raise RefusedError(
            f"customer {customer.id} has no active hour package on {day}; "
            "use --billable to record the work as billable"
        )
    base = HourBooking(customer.id, None, hours, text.strip(), actor, True, incident_id, now)
    if package is None or billable:
        store.add_bookings(ledger, [base])
        return Booked((base,), None, (f"{hours:g} h booked as billable work",))
    return _book_on_package(ledger, base, package)


def _book_on_package(ledger: Ledger, base: HourBooking, package: HourPackage) -> Booked:
    remaining = round(package.hours - store.booked_hours(ledger, package.id), 2)
    covered = min(base.hours, max(remaining, 0.0))
    parts: list[HourBooking] = []
    warnings: list[str] = []
    if covered > 0:
        parts.append(replace(base, contract_id=package.id, hours=covered, billable=False))
    if base.hours - covered > 0:
        extra = round(base.hours - covered, 2)
        parts.append(replace(base, hours=extra))
        warnings.append(f"package {package.id} is exhausted: {extra:g} h booked as billable")
    store.add_bookings(ledger, parts)
    used = round(package.hours - remaining + covered, 2)
    bal = Balance(base.customer_id, package.id, package.hours, used, package.start, package.end)
    if bal.state == "empty" and not warnings:
        warnings.append(f"package {package.id} is now empty")
    elif bal.state == "low":
        warnings.append(f"package {package.id} is running low: {bal.remaining:g} h left")
    return Booked(tuple(parts), bal, tuple(warnings))
