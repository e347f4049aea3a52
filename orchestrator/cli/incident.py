"""``pbxops incident``: faults with reaction deadlines from the customer's SLA."""

from __future__ import annotations

from datetime import datetime

import click

from ..ledger.sla import Incident
from ..sla import service
from ..sla.incidents import CAUSES
from ..tickets import service as tickets
from . import settings_of
from .output import json_option, print_json, print_table

at_option = click.option(
    "--at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    help="When it happened, if not now (ISO time with offset, e.g. 2026-11-25T09:10+01:00).",
)


def _dict(i: Incident) -> dict[str, object]:
    return {
        "ticket": i.ticket,
        "customer": i.customer_id,
        "contract": i.contract_id,
        "host": i.host,
        "title": i.title,
        "state": i.state,
        "opened": i.opened_at,
        "deadline": i.deadline,
        "reaction_hours": i.reaction_hours,
        "basis": i.hours_basis,
        "acked": i.acked_at,
        "acked_by": i.acked_by,
        "resolved": i.resolved_at,
        "cause": i.cause,
        "billing": i.detail.get("billing"),  # free | package | billable, once resolved
        "coverage": i.coverage,  # the verdict with its reason
    }


def _ticket(ctx: click.Context, incident: Incident) -> None:
    """With a ticket system: bring the incident's ticket up to date now, or say that the
    change waits in the outbox for `pbxops tickets sync`."""
    assert incident.id is not None
    pushed = tickets.push(settings_of(ctx), incident.id)
    if pushed is None:
        return
    if pushed.done:
        click.echo(f"{incident.ticket}: ticket up to date")
    else:
        click.echo(
            f"warning: {incident.ticket}: ticket change waits for `pbxops tickets sync`: "
            f"{pushed.error}",
            err=True,
        )


@click.group("incident")
def group() -> None:
    """Open, acknowledge, resolve and list incidents."""


@group.command("open")
@click.argument("customer")
@click.argument("title")
@click.option("--host", help="The customer's system concerned.")
@click.option("--no-mail", is_flag=True, help="Do not send the notification e-mail.")
@at_option
@click.pass_context
def open_cmd(
    ctx: click.Context,
    customer: str,
    title: str,
    host: str | None,
    no_mail: bool,
    at: datetime | None,
) -> None:
    """Open an incident for CUSTOMER; mails the customer and the on-duty technician."""
    o = service.incident_open(settings_of(ctx), customer, title, host, at, not no_mail)
    i = o.incident
    click.echo(
        f"{i.ticket} opened for {i.customer_id} ({i.contract_id or 'no contract'}): "
        f"react within {i.reaction_hours:g} h {i.hours_basis}, by {i.deadline.isoformat()}"
    )
    if o.mail_error:
        click.echo(f"warning: notification mail failed: {o.mail_error}", err=True)
    elif o.notified:
        click.echo(f"mailed {', '.join(o.notified)}")
    _ticket(ctx, i)


@group.command("ack")
@click.argument("incident")
@at_option
@click.pass_context
def ack(ctx: click.Context, incident: str, at: datetime | None) -> None:
    """Acknowledge INCIDENT (e.g. INC-000042): records the reaction time."""
    i = service.incident_ack(settings_of(ctx), incident, at)
    assert i.acked_at is not None
    met = "met" if i.acked_at <= i.deadline else "MISSED"
    hours = (i.acked_at - i.opened_at).total_seconds() / 3600
    click.echo(f"{i.ticket} acknowledged by {i.acked_by} after {hours:.2f} h: deadline {met}")
    _ticket(ctx, i)


@group.command("resolve")
@click.argument("incident")
@click.option(
    "--cause",
    type=click.Choice(sorted(CAUSES)),
    required=True,
    help="What caused it: decides whether work on it is free, on the hour package or billable.",
)
@click.pass_context
def resolve(ctx: click.Context, incident: str, cause: str) -> None:
    """Resolve INCIDENT with its cause."""
    i = service.incident_resolve(settings_of(ctx), incident, cause)
    click.echo(f"{i.ticket} resolved ({cause}): {i.coverage}")
    _ticket(ctx, i)


@group.command("list")
@click.option("--customer", help="Only this customer.")
@click.option("--open", "only_open", is_flag=True, help="Only unresolved incidents.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, customer: str | None, only_open: bool, as_json: bool) -> None:
    """Incidents, oldest first."""
    rows = service.incident_list(settings_of(ctx), customer, only_open)
    if as_json:
        print_json([_dict(i) for i in rows])
        return
    print_table(
        f"Incidents ({len(rows)})",
        ["ticket", "customer", "host", "state", "opened", "deadline", "title"],
        [
            [
                i.ticket,
                i.customer_id,
                i.host or "-",
                i.state,
                f"{i.opened_at:%Y-%m-%d %H:%M}",
                f"{i.deadline:%Y-%m-%d %H:%M}",
                i.title,
            ]
            for i in rows
        ],
    )
