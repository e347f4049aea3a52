"""``pbxops hours``: configuration work booked against hour packages."""

from __future__ import annotations

import click

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
    """Book HOURS of work described by TEXT for CUSTOMER."""
    done = service.hours_book(settings_of(ctx), customer, hours, text, billable, incident)
    for b in done.bookings:
        where = "billable" if b.billable else f"package {b.contract_id}"
        click.echo(f"booked {b.hours:g} h for {b.customer_id} ({where})")
    if done.balance:
        click.echo(
            f"{done.balance.contract}: {done.balance.remaining:g} of {done.balance.hours:g} h left"
        )
    for w in done.warnings:
        click.echo(f"warning: {w}", err=True)


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
