"""``pbxops hours``: configuration work booked against hour packages."""

from __future__ import annotations

import click

from ..ledger.sla import HourBooking
from ..sla import service
from . import settings_of
from .output import json_option, print_json, print_table


@click.group("hours")
def group() -> None:
    """Hour packages: book work, show balances."""


@group.command("book", context_settings={"ignore_unknown_options": True})
@click.argument("customer")
@click.argument("hours", type=float)
@click.argument("text")
@click.option("--billable", is_flag=True, help="Book as billable work, not on the package.")
@click.option("--incident", help="The incident the work belongs to (INC-...).")
@click.pass_context
def book(
    ctx: click.Context, customer: str, hours: float, text: str, billable: bool, incident: str | None
) -> None:
    """Book HOURS of work described by TEXT for CUSTOMER.

    With --incident, the incident's cause and the contracts decide: free (recorded, not
    debited), on the hour package, or billable; each booking line says which and why."""
    done = service.hours_book(settings_of(ctx), customer, hours, text, billable, incident)
    for b in done.bookings:
        click.echo(f"booked {b.hours:g} h for {b.customer_id} ({b.billing}): {b.reason}")
    if done.balance:
        click.echo(
            f"{done.balance.contract}: {done.balance.remaining:g} of {done.balance.hours:g} h left"
        )
    for w in done.warnings:
        click.echo(f"warning: {w}", err=True)


@group.command("list")
@click.argument("customer")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, customer: str, as_json: bool) -> None:
    """Every booking of CUSTOMER: free, package or billable, and why."""
    rows = service.hours_list(settings_of(ctx), customer)
    if as_json:
        print_json([_booking(b) for b in rows])
        return
    print_table(
        f"Work booked for {customer} ({len(rows)})",
        ["at", "hours", "billing", "incident", "reason", "text"],
        [
            [
                f"{b.at:%Y-%m-%d %H:%M}" if b.at else "",
                f"{b.hours:g}",
                b.billing,
                f"INC-{b.incident_id:06d}" if b.incident_id else "-",
                b.reason,
                b.text,
            ]
            for b in rows
        ],
    )


def _booking(b: HourBooking) -> dict[str, object]:
    return {
        "at": b.at,
        "hours": b.hours,
        "billing": b.billing.value,
        "contract": b.contract_id,
        "reason": b.reason,
        "incident": f"INC-{b.incident_id:06d}" if b.incident_id else None,
        "text": b.text,
        "actor": b.actor,
    }


@group.command("balance")
@click.argument("customer")
@json_option
@click.pass_context
def balance(ctx: click.Context, customer: str, as_json: bool) -> None:
    """Hours left on CUSTOMER's active packages."""
    rows = service.hours_balance(settings_of(ctx), customer)
    if as_json:
        print_json(
            [
                {
                    "contract": b.contract,
                    "hours": b.hours,
                    "used": b.used,
                    "remaining": b.remaining,
                    "state": b.state,
                }
                for b in rows
            ]
        )
        return
    if not rows:
        click.echo(f"{customer}: no active hour package (work is billable)")
        return
    print_table(
        f"Hour packages of {customer}",
        ["contract", "hours", "used", "left", "state"],
        [[b.contract, f"{b.hours:g}", f"{b.used:g}", f"{b.remaining:g}", b.state] for b in rows],
    )
