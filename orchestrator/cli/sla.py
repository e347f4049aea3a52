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
        ["ticket", "customer", "contract", "opened", "deadline", "acked", "reaction h", "status"],
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
            ]
            for x in r.rows
        ],
    )
    print_table(
        "Per customer",
        ["customer", "incidents", "met", "missed", "pending"],
        [[s.customer, s.incidents, s.met, s.missed, s.pending] for s in r.summary],
    )
    for g in r.gaps:
        click.echo(
            f"warning: {g.customer} ({g.contract}): nobody on duty {g.pattern} "
            f"({g.occurrences}×, {g.hours:g} h in the period)"
        )
