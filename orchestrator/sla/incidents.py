"""Incidents: open (by a technician or a failing check), acknowledge, resolve.

Opening computes the reaction deadline from the customer's SLA (or the 48 h default) and
sends the notification e-mail; the incident is committed first, so a mail failure never loses
it (the failure is recorded as an ``incident.notify`` action and reported to the caller).
Acknowledging records the reaction time; resolving records the cause and its billing
verdict (``model.billing``: free, package or billable, with the reason), which the work
booked on the incident then follows.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..errors import NotFoundError, RefusedError
from ..fleet import Fleet
from ..ledger import ActionRecord, Ledger
from ..ledger import sla as store
from ..ledger.sla import Incident
from ..model import billing as rules
from ..model.billing import CAUSE_TEXT, Cause, Verdict
from . import channels, notify
from .hours import active_package
from .terms import terms_for

CAUSES = {c.value: text for c, text in CAUSE_TEXT.items()}


@dataclass(frozen=True)
class Opened:
    incident: Incident
    notified: tuple[str, ...]  # recipients the mail was delivered to (empty: not sent)
    mail_error: str | None = None


MAX_TITLE = 300


def check_title(title: str) -> None:
    """One line of text: a line break or control character would end up in a mail header
    (after the incident was committed) and in every report."""
    if not title.strip():
        raise RefusedError("an incident needs a title saying what is wrong")
    bad = next((c for c in title if not c.isprintable()), None)
    if bad is not None:
        raise RefusedError(
            f"incident title: one line without control characters (found {bad!r})"
        )
    if len(title) > MAX_TITLE:
        raise RefusedError(f"incident title: at most {MAX_TITLE} characters, got {len(title)}")


def open_incident(
    fleet: Fleet,
    ledger: Ledger,
    mailer: notify.Mailer | None,
    *,
    customer_id: str,
    title: str,
    actor: str,
    now: datetime,
    host: str | None = None,
    source: str = "technician",
    checks: Sequence[str] = (),
    within: Callable[[Any, Incident], None] | None = None,
) -> Opened:
    """Record the incident (``within`` adds rows in its transaction: the ticket link or
    outbox row), then mail it."""
    customer = fleet.customer(customer_id)
    if host is not None and host not in {s.hostname for s in customer.systems}:
        raise NotFoundError(f"customer {customer_id!r} has no system {host!r}")
    check_title(title)
    terms = terms_for(customer, host, now)
    inc = store.add_incident(
        ledger,
        Incident(
            customer_id=customer.id,
            contract_id=terms.contract,
            host=host,
            title=title.strip(),
            source=source,
            opened_at=now,
            opened_by=actor,
            reaction_hours=terms.reaction_hours,
            hours_basis=terms.basis,
            deadline=terms.deadline(customer, now),
            detail={"checks": list(checks), "tier": terms.tier},
        ),
        within,
    )
    if mailer is None:
        return Opened(inc, ())
    return _notify(fleet, ledger, mailer, inc, actor, now)


def _notify(
    fleet: Fleet, ledger: Ledger, mailer: notify.Mailer, inc: Incident, actor: str, now: datetime
) -> Opened:
    customer = fleet.customer(inc.customer_id)
    on_duty = notify.on_duty_addresses(fleet.technicians, now, mailer.sender)
    reach = channels.offers(
        channels.channels_of(customer, inc.contract_id), fleet.technicians, now, mailer.sender
    )
    msg = notify.message(inc, customer, on_duty, mailer.sender, reach)
    recipients = tuple(c.email for c in customer.contacts) + tuple(on_duty)
    error: str | None = None
    try:
        notify.send(mailer, msg)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    ledger.record(
        ActionRecord(
            kind="incident.notify",
            customer_id=inc.customer_id,
            contract_id=inc.contract_id,
            summary=f"{inc.ticket} mail to {', '.join(recipients)}"
            + (f" failed: {error}" if error else ""),
            actor=actor,
            host=inc.host,
            outcome="failed" if error else "ok",
            detail={"incident": inc.id, "subject": msg["Subject"]},
            at=now,
        )
    )
    return Opened(inc, () if error else recipients, error)


def get(ledger: Ledger, incident_id: int) -> Incident:
    inc = store.incident(ledger, incident_id)
    if inc is None:
        raise NotFoundError(f"unknown incident {incident_id} (see `pbxops incident list`)")
    return inc


def parse_id(text: str) -> int:
    """``42``, ``INC-42`` or ``INC-000042`` -> 42."""
    raw = text.strip().upper().removeprefix("INC-")
    if not raw.isdigit():
        raise NotFoundError(f"unknown incident {text!r}: expected a number like INC-000042")
    return int(raw)


def acknowledge(ledger: Ledger, incident_id: int, actor: str, now: datetime) -> Incident:
    """Record the reaction: who acknowledged, when; whether the deadline was met."""
    inc = get(ledger, incident_id)
    if inc.acked_at is not None:
        raise RefusedError(f"{inc.ticket} was already acknowledged by {inc.acked_by}")
    if now < inc.opened_at:
        raise RefusedError(f"{inc.ticket}: acknowledgement before the incident opened")
    acked = replace(inc, acked_at=now, acked_by=actor)
    met = "met" if now <= inc.deadline else "MISSED"
    return store.update_incident(ledger, acked, "incident.ack", actor, now, f"deadline {met}")


def resolve(
    fleet: Fleet, ledger: Ledger, incident_id: int, actor: str, now: datetime, cause: str
) -> Incident:
    """Close the incident with its cause and billing verdict; unacknowledged incidents are
    acknowledged now."""
    if cause not in CAUSES:
        raise RefusedError(f"unknown cause {cause!r}; use one of {', '.join(CAUSES)}")
    inc = get(ledger, incident_id)
    if inc.resolved_at is not None:
        raise RefusedError(f"{inc.ticket} is already resolved")
    if inc.acked_at is None:
        inc = acknowledge(ledger, incident_id, actor, now)
    verdict = verdict_for(fleet, inc, Cause(cause), now)
    detail = {**inc.detail, "billing": verdict.billing.value, "billing_contract": verdict.contract}
    done = replace(
        inc, resolved_at=now, resolved_by=actor, cause=cause, coverage=str(verdict), detail=detail
    )
    return store.update_incident(ledger, done, "incident.resolve", actor, now, str(verdict))


def verdict_for(fleet: Fleet, inc: Incident, cause: Cause, now: datetime) -> Verdict:
    """What the cause and the contracts on the day the incident opened decide; for
    configuration work, the hour package active now (else billable)."""
    customer = fleet.customer(inc.customer_id)
    opened = inc.opened_at.astimezone(customer.tz).date()
    ruled = rules.for_cause(customer, inc.host, cause, opened)
    if ruled is not None:
        return ruled
    today = now.astimezone(customer.tz).date()
    package = active_package(customer, today)
    return rules.on_package(package.id, cause) if package else rules.no_package(today)
