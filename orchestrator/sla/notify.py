"""Incident notification e-mail, shaped for a ticket system that opens tickets from mail.

The subject is stable and machine-readable::

    [pbxops INC-000042] customer=clinic-nord contract=clinic-nord-sla host=clinic-nord-pbx
    deadline=2026-11-25T15:00:00Z: SIP OPTIONS not answered

and the same fields are repeated as ``X-Pbxops-*`` headers and as ``key: value`` lines at the
top of the body, so a ticket system can match on whichever it supports.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..ledger.sla import Incident
from ..model import Customer, Technician
from ..model.window import MaintenanceWindow


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    timeout: float = 10.0


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject(inc: Incident) -> str:
    return (
        f"[pbxops {inc.ticket}] customer={inc.customer_id} contract={inc.contract_id or 'none'} "
        f"host={inc.host or '-'} deadline={_z(inc.deadline)}: {inc.title}"
    )


def on_duty_addresses(roster: Sequence[Technician], at: datetime, fallback: str) -> list[str]:
    """E-mail addresses of the technicians on duty at ``at``; ``fallback`` when nobody is."""
    from zoneinfo import ZoneInfo

    found = [
        t.email
        for t in roster
        if t.on_duty
        and MaintenanceWindow(slots=t.on_duty).open_at(at, ZoneInfo(t.timezone)) is not None
    ]
    return found or [fallback]


def message(
    inc: Incident,
    customer: Customer,
    on_duty: Sequence[str],
    sender: str,
    reach: Sequence[str] = (),
) -> EmailMessage:
    """``reach``: how the customer may reach support (``channels.offers``), one per line."""
    msg = EmailMessage()
    msg["Subject"] = subject(inc)
    msg["From"] = sender
    msg["To"] = ", ".join(c.email for c in customer.contacts)
    msg["Cc"] = ", ".join(on_duty)
    msg["Date"] = format_datetime(inc.opened_at.astimezone(UTC))
    msg["Message-ID"] = make_msgid(idstring=inc.ticket, domain="pbxops")
    for name, value in _fields(inc).items():
        msg[f"X-Pbxops-{name.title()}"] = value
    msg.set_content(_body(inc, customer, reach))
    return msg


def _fields(inc: Incident) -> dict[str, str]:
    return {
        "incident": inc.ticket,
        "customer": inc.customer_id,
        "contract": inc.contract_id or "none",
        "host": inc.host or "-",
        "deadline": _z(inc.deadline),
    }


def body(inc: Incident, customer: Customer) -> str:
    """The mail's text (also the text of the incident's ticket)."""
    return _body(inc, customer)


def _body(inc: Incident, customer: Customer, reach: Sequence[str] = ()) -> str:
    local = inc.deadline.astimezone(customer.tz)
    head = "\n".join(f"{k}: {v}" for k, v in _fields(inc).items())
    return (
        f"{head}\n\n"
        f"{customer.name}: {inc.title}\n\n"
        f"Opened {_z(inc.opened_at)} by {inc.opened_by} ({inc.source}).\n"
        f"Reaction due within {inc.reaction_hours:g} h ({inc.hours_basis}): "
        f"{local:%Y-%m-%d %H:%M} {customer.timezone}.\n"
        + "".join(f"\n- {line}" for line in inc.detail.get("checks", []))
        + ("\n\nHow to reach us:" + "".join(f"\n- {r}" for r in reach) if reach else "")
        + "\n\nReply to this mail to add to the ticket.\n"
    )


def send(mailer: Mailer, msg: EmailMessage) -> None:
    """Deliver over SMTP; raises OSError/smtplib.SMTPException on failure."""
    with smtplib.SMTP(mailer.host, mailer.port, timeout=mailer.timeout) as smtp:
        smtp.send_message(msg)
