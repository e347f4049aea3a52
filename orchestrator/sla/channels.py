"""PURE: how a customer may reach support, from their SLA's ``channels``.

``email`` (the default, also without an SLA): write to the support address (with a ticket
system, rt-mailgate turns the mail into a ticket); ``phone``: the on-duty technician's
number from the roster at that moment (none on duty or no number: said so, never an
invented number); ``ticket``: the customer's tickets in the ticket system. Incident mails
and the customer documentation offer exactly these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..model import Customer, Technician
from ..model.contract import Sla
from ..model.window import MaintenanceWindow


def channels_of(customer: Customer, contract_id: str | None) -> tuple[str, ...]:
    """The channels of the SLA ``contract_id`` (e-mail only without an SLA)."""
    for k in customer.contracts:
        if isinstance(k, Sla) and k.id == contract_id:
            return k.channels
    return ("email",)


def on_duty_phone(roster: Sequence[Technician], at: datetime) -> Technician | None:
    """The first technician on duty at ``at`` who has a phone number."""
    for t in roster:
        window = MaintenanceWindow(slots=t.on_duty) if t.phone and t.on_duty else None
        if window is not None and window.open_at(at, ZoneInfo(t.timezone)) is not None:
            return t
    return None


def offers(
    channels: Sequence[str],
    roster: Sequence[Technician],
    at: datetime,
    support_address: str,
    ticket_url: str = "",
) -> list[str]:
    """One line per channel, in the contract's order."""
    lines: list[str] = []
    for ch in channels:
        if ch == "email":
            lines.append(f"E-mail: {support_address} (or reply to this mail)")
        elif ch == "phone":
            tech = on_duty_phone(roster, at)
            lines.append(
                f"Phone: {tech.phone} ({tech.name}, on duty)"
                if tech
                else "Phone: nobody with a number is on duty now; use e-mail"
            )
        elif ch == "ticket":
            lines.append(
                f"Tickets: {ticket_url.rstrip('/')}/SelfService/" if ticket_url
                else "Tickets: in our ticket system (ask for your login)"
            )
    return lines


def for_docs(channels: Sequence[str], roster: Sequence[Technician]) -> list[str]:
    """What the customer documentation offers: the channels, phone with the roster's
    numbers and hours (the number on duty changes; docs list them all)."""
    lines: list[str] = []
    for ch in channels:
        if ch == "email":
            lines.append("e-mail to support (opens or adds to a ticket)")
        elif ch == "phone":
            numbers = [f"{t.phone} ({t.name}: {', '.join(t.on_duty)})" for t in roster
                       if t.phone and t.on_duty]
            lines.append("phone: " + ("; ".join(numbers) or "no number in the roster"))
        elif ch == "ticket":
            lines.append("ticket system: the customer's own tickets")
    return lines
