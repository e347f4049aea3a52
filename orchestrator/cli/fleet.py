"""``pbxops fleet``: the contract book."""

from __future__ import annotations

from datetime import date, datetime

import click
import yaml

from .. import app
from ..errors import BookError
from . import settings_of
from .output import json_option, print_json, print_table

on_option = click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Evaluate contracts on this date (YYYY-MM-DD; default: today).",
)


def _day(on: datetime | None) -> date:
    return on.date() if on else date.today()


@click.group("fleet")
def group() -> None:
    """The contract book: customers, systems, contracts, entitlement, inventory."""


@group.command("validate")
@json_option
@click.pass_context
def validate(ctx: click.Context, as_json: bool) -> None:
    """Check the whole book; report every finding with file, YAML path and line."""
    settings = settings_of(ctx)
    issues = app.validate(settings)
    if as_json:
        print_json(
            {"book": str(settings.book), "ok": not issues, "issues": [i.__dict__ for i in issues]}
        )
        if issues:
            ctx.exit(BookError.exit_code)
        return
    if issues:
        raise BookError(issues)
    click.echo(f"{settings.book}: contract book is valid")


@group.command("show")
@on_option
@json_option
@click.pass_context
def show(ctx: click.Context, on: datetime | None, as_json: bool) -> None:
    """One line per customer: systems, phones, extensions, active contracts."""
    rows = app.fleet_summary(settings_of(ctx), _day(on))
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Customers ({len(rows)})",
        ["customer", "name", "timezone", "systems", "phones", "ext.", "active contracts"],
        [
            [
                r["customer"],
                r["name"],
                r["timezone"],
                ", ".join(r["systems"]),
                r["phones"],
                r["extensions"],
                ", ".join(r["contracts"]) or "-",
            ]
            for r in rows
        ],
    )


@group.command("entitled")
@on_option
@click.option("--only", type=click.Choice(["yes", "no"]), help="Show only (not) entitled systems.")
@json_option
@click.pass_context
def entitled(ctx: click.Context, on: datetime | None, only: str | None, as_json: bool) -> None:
    """Every system, whether it is entitled to software updates on a date, and why."""
    day = _day(on)
    rows = app.entitled(settings_of(ctx), day)
    if only:
        rows = [r for r in rows if r["entitled"] == (only == "yes")]
    if as_json:
        print_json({"on": day.isoformat(), "systems": rows})
        return
    n = sum(r["entitled"] for r in rows)
    print_table(
        f"Entitlement to software updates on {day} ({n} of {len(rows)} entitled)",
        ["customer", "system", "deployment", "entitled", "reaction", "reason"],
        [
            [
                r["customer"],
                r["hostname"],
                r["deployment"],
                "yes" if r["entitled"] else "NO",
                f"{r['reaction_hours']:g} h",
                r["reason"],
            ]
            for r in rows
        ],
    )


@group.command("inventory")
@on_option
@click.option("--customer", "customers", multiple=True, help="Only this customer (repeatable).")
@click.option("--static", is_flag=True, help="Ansible YAML inventory for a file, not --list JSON.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file.")
@click.pass_context
def inventory(
    ctx: click.Context,
    on: datetime | None,
    customers: tuple[str, ...],
    static: bool,
    out: str | None,
) -> None:
    """Render the Ansible inventory (groups per customer, platform, deployment, SLA tier).

    For plain ansible-playbook use inventory/pbxops_inventory.py as a dynamic inventory.
    """
    inv = app.inventory(settings_of(ctx), _day(on), static=static, customers=customers)
    text = yaml.safe_dump(inv, sort_keys=False) if static else None
    if out:
        from ..fsutil import atomic_write

        atomic_write(out, text if text is not None else _json(inv))
        click.echo(f"wrote {out}", err=True)
    elif text is not None:
        click.echo(text, nl=False)
    else:
        print_json(inv)


def _json(data: object) -> str:
    import json

    return json.dumps(data, indent=2) + "\n"
