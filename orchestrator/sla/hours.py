"""Hour packages: book work with its billing verdict, warn when a package runs low or empty.

Work on an incident is paid as its cause and the contracts decide (``model.billing``):
free diagnosis of a PBX-software fault under maintenance, a hardware fault under hardware
maintenance (both recorded, not debited), a third-party fault billable. Configuration work
(and work without an incident) goes on the customer's active hour package; what the package
cannot cover is billable. Without a package, work not tied to an incident is only booked as
billable when asked for explicitly (``billable=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime

from ..errors import RefusedError
from ..fleet import Fleet
from ..ledger import Ledger
from ..ledger import sla as store
from ..ledger.sla import HourBooking, Incident
from ..model import Customer, HourPackage
from ..model import billing as rules
from ..model.billing import Billing, Cause, Verdict

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


def balances_now(fleet: Fleet, ledger: Ledger, customer_id: str, now: datetime) -> list[Balance]:
    """The balances on the customer's own date at ``now`` (the date bookings use)."""
    day = now.astimezone(fleet.customer(customer_id).tz).date()
    return balances(fleet, ledger, customer_id, day)


def balances(fleet: Fleet, ledger: Ledger, customer_id: str, day: date) -> list[Balance]:
    customer = fleet.customer(customer_id)
    return [
        Balance(customer.id, k.id, k.hours, store.booked_hours(ledger, k.id), k.start, k.end)
        for k in customer.contracts
        if isinstance(k, HourPackage) and k.active_on(day)
    ]


def _validate(hours: float, text: str) -> None:
    if not math.isfinite(hours):
        raise RefusedError(f"hours must be a number of hours, got {hours}")
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
    incident: Incident | None = None,
) -> Booked:
    """Book ``hours`` of work; nothing is written when the input is refused."""
    _validate(hours, text)
    customer = fleet.customer(customer_id)
    day = now.astimezone(customer.tz).date()
    base = HourBooking(
        customer.id,
        None,
        hours,
        text.strip(),
        actor,
        Billing.BILLABLE,
        incident.id if incident else None,
        now,
    )
    ruled = _incident_verdict(customer, incident, billable)
    if ruled is not None:
        return _book_verdict(ledger, base, ruled)
    package = active_package(customer, day)
    if billable:
        return _book_verdict(ledger, base, rules.REQUESTED)
    if package is None and incident is None:
        raise RefusedError(
            f"customer {customer.id} has no active hour package on {day}; "
            "use --billable to record the work as billable"
        )
    if package is None:
        return _book_verdict(ledger, base, rules.no_package(day), warn=True)
    return _book_on_package(ledger, base, package, _cause(incident))


def _cause(incident: Incident | None) -> Cause | None:
    return Cause(incident.cause) if incident and incident.cause else None


def _incident_verdict(
    customer: Customer, incident: Incident | None, billable: bool
) -> Verdict | None:
    """What the incident's cause decides (None: the hour-package rule applies)."""
    if incident is None:
        return None
    if incident.customer_id != customer.id:
        raise RefusedError(
            f"{incident.ticket} belongs to {incident.customer_id}, not {customer.id}"
        )
    cause = _cause(incident)
    if cause is None:
        raise RefusedError(
            f"{incident.ticket} has no cause yet: resolve it first with `pbxops incident "
            f"resolve {incident.ticket} --cause ...` (the cause decides whether the work is "
            "free, on the hour package or billable)"
        )
    day = incident.opened_at.astimezone(customer.tz).date()
    verdict = rules.for_cause(customer, incident.host, cause, day)
    if verdict is not None and verdict.billing is Billing.FREE and billable:
        raise RefusedError(f"{incident.ticket}: --billable contradicts the contract: {verdict}")
    return verdict


def _book_verdict(
    ledger: Ledger, base: HourBooking, verdict: Verdict, warn: bool = False
) -> Booked:
    booking = replace(
        base, billing=verdict.billing, contract_id=verdict.contract, reason=verdict.reason
    )
    store.add_bookings(ledger, [booking])
    return Booked((booking,), None, (f"{base.hours:g} h {verdict}",) if warn else ())


def _book_on_package(
    ledger: Ledger, base: HourBooking, package: HourPackage, cause: Cause | None
) -> Booked:
    remaining = round(package.hours - store.booked_hours(ledger, package.id), 2)
    covered = min(base.hours, max(remaining, 0.0))
    parts: list[HourBooking] = []
    warnings: list[str] = []
    if covered > 0:
        on = rules.on_package(package.id, cause)
        parts.append(
            replace(
                base, contract_id=package.id, hours=covered, billing=on.billing, reason=on.reason
            )
        )
    if base.hours - covered > 0:
        extra = round(base.hours - covered, 2)
        out = rules.exhausted(package.id)
        parts.append(replace(base, hours=extra, reason=out.reason))
        warnings.append(f"package {package.id} is exhausted: {extra:g} h booked as billable")
    store.add_bookings(ledger, parts)
    used = round(package.hours - remaining + covered, 2)
    bal = Balance(base.customer_id, package.id, package.hours, used, package.start, package.end)
    if bal.state == "empty" and not warnings:
        warnings.append(f"package {package.id} is now empty")
    elif bal.state == "low":
        warnings.append(f"package {package.id} is running low: {bal.remaining:g} h left")
    return Booked(tuple(parts), bal, tuple(warnings))
