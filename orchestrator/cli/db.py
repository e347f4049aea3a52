"""``pbxops db``: the ledger database."""

from __future__ import annotations

import click

from .. import app
from . import settings_of
from .output import json_option, print_json


@click.group("db")
def group() -> None:
    """The ledger database (SQLite by default, PostgreSQL by --ledger-url)."""


@group.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (the only command that changes the schema; a new
    SQLite ledger is made at the current schema on first use)."""
    url, applied = app.db_upgrade(settings_of(ctx))
    if applied:
        click.echo(f"{url}: applied {', '.join(applied)}")
    else:
        click.echo(f"{url}: already up to date")


@group.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the ledger URL (password hidden) and its migration state."""
    st = app.db_status(settings_of(ctx))
    if as_json:
        print_json(st)
        return
    state = ("up to date" if st["up_to_date"] else
             "migrations pending (run: pbxops db upgrade)" if st["exists"] else
             "no ledger yet (made at first use, or now by: pbxops db upgrade)")
    click.echo(f"{st['url']}: {state}; current {', '.join(st['current']) or '-'}")
    if not st["up_to_date"]:
        ctx.exit(1)
