"""``pbxops contracts``: pricing basis and per-contract history."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from ..fsutil import atomic_write
from ..reports.history import to_csv
from ..reports.pricing import monthly_totals
from ..sla import service
from . import settings_of
from .output import json_option, print_json, print_table


@click.group("contracts")
def group() -> None:
    """What customers bought: pricing basis and history."""


@group.command("pricing")
@click.argument("customer", required=False)
@click.option(
    "--on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Contracts active on (default today)."
)
@json_option
@click.pass_context
def pricing(ctx: click.Context, customer: str | None, on: datetime | None, as_json: bool) -> None:
    """Monthly fee basis per contract from tariffs.yml and the counts in the book."""
    lines = service.contracts_pricing(settings_of(ctx), customer, on.date() if on else date.today())
    totals = monthly_totals(lines)
    if as_json:
        print_json({"lines": [x.as_dict() for x in lines], "monthly_totals": totals})
        return
    print_table(
        "Pricing basis (per month; hour packages one-off)",
        ["customer", "contract", "kind", "basis", "monthly", "one-off"],
        [
            [
                x.customer,
                x.contract,
                x.kind,
                x.basis,
                f"{x.monthly:.2f}",
                f"{x.one_off:.2f}" if x.one_off else "",
            ]
            for x in lines
        ],
    )
    for cid, total in totals.items():
        click.echo(f"{cid}: {total:.2f} per month")


@group.command("history")
@click.argument("customer")
@click.option("--contract", help="Only actions under this contract.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.pass_context
def history(
    ctx: click.Context, customer: str, contract: str | None, fmt: str, out: Path | None
) -> None:
    """Every action recorded for CUSTOMER, in time order."""
    rows = service.contracts_history(settings_of(ctx), customer, contract)
    if fmt == "table" and out is None:
        print_table(
            f"History of {customer} ({len(rows)} actions)",
            ["at", "kind", "contract", "host", "outcome", "summary"],
            [
                [r["at"][:19], r["kind"], r["contract"], r["host"], r["outcome"], r["summary"]]
                for r in rows
            ],
        )
        return
    import json

    text = to_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2, default=str) + "\n"
    if out:
        atomic_write(out, text)
        click.echo(f"wrote {len(rows)} actions to {out}", err=True)
    else:
        click.echo(text, nl=False)
