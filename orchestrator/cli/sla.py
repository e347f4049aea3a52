"""``pbxops sla``: reaction times met or missed, and roster coverage."""

from __future__ import annotations

from datetime import datetime

import click

from ..sla import service
from . import settings_of
from .output import json_option, print_json, print_table

_day = click.DateTime(formats=["%Y-%m-%d"])


@click.group("sla")
def group() -> None:
    """Service-level reports."""


@group.command("report")
@click.option("--customer", help="Only this customer.")
@click.option("--period", help="YYYY-MM, YYYY-Qn or YYYY (default: this month).")
@click.option("--from", "start", type=_day, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=_day, help="Last day, inclusive (YYYY-MM-DD).")
@json_option
@click.pass_context
def report(
    ctx: click.Context,
    customer: str | None,
    period: str | None,
    start: datetime | None,
    end: datetime | None,
    as_json: bool,
) -> None:
    """Met/missed reaction times per customer, and on-duty coverage gaps for SLA customers."""
    r = service.sla_report(
        settings_of(ctx),
        customer,
        period,
        start.date() if start else None,
        end.date() if end else None,
    )
    if as_json:
        print_json(r.as_dict())
        return
    print_table(
        f"Reaction times {r.period.label}",
        [
            "ticket",
            "customer",
            "contract",
            "opened",
            "deadline",
            "acked",
            "reaction h",
            "status",
            "billing",
        ],
        [
            [
                x.ticket,
                x.customer,
                x.contract or "-",
                f"{x.opened:%Y-%m-%d %H:%M}",
                f"{x.deadline:%Y-%m-%d %H:%M}",
                f"{x.acked:%Y-%m-%d %H:%M}" if x.acked else "-",
                "-" if x.reaction_hours is None else f"{x.reaction_hours:.2f}",
                x.status,
                x.billing or "-",
            ]
            for x in r.rows
        ],
    )
    for x in r.rows:
        if x.coverage:
            booked = ", ".join(f"{h:g} h {b}" for b, h in x.hours.items() if h)
            click.echo(f"{x.ticket} ({x.cause}): {x.coverage}" + (f" [{booked}]" if booked else ""))
    print_table(
        "Per customer (hours booked in the period)",
        ["customer", "incidents", "met", "missed", "pending", "free h", "package h", "billable h"],
        [
            [s.customer, s.incidents, s.met, s.missed, s.pending]
            + [f"{s.hours.get(b, 0):g}" for b in ("free", "package", "billable")]
            for s in r.summary
        ],
    )
    for g in r.gaps:
        click.echo(
            f"warning: {g.customer} ({g.contract}): nobody on duty {g.pattern} "
            f"({g.occurrences}×, {g.hours:g} h in the period)"
        )
