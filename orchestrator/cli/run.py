"""``pbxops run CUSTOMER -- CMD``: one command on each of a customer's hosts, through the
tunnel with a short-lived certificate, recorded in the ledger (who, when, what, exit)."""

from __future__ import annotations

import click

from ..access import sessions
from ..errors import ConfigError
from . import settings_of
from .output import json_option, print_json


@click.command("run")
@click.argument("customer")
@click.argument("command", nargs=-1, required=True)
@click.option(
    "--as",
    "technician",
    envvar="PBXOPS_TECHNICIAN",
    help="Technician (roster id) the certificate is issued to [env PBXOPS_TECHNICIAN].",
)
@json_option
@click.pass_context
def group(
    ctx: click.Context,
    customer: str,
    command: tuple[str, ...],
    technician: str | None,
    as_json: bool,
) -> None:
    """Run COMMAND on CUSTOMER's PBX hosts (e.g. pbxops run acme --as mweber -- uptime)."""
    if not technician:
        raise ConfigError("who runs this? give --as TECHNICIAN or set PBXOPS_TECHNICIAN")
    settings = settings_of(ctx)
    session = sessions.open_session(settings, technician, customer)
    results = sessions.run(settings, session, list(command))
    if as_json:
        print_json([r.__dict__ for r in results])
    else:
        for r in results:
            click.echo(f"== {r.host} (exit {r.exit_code})")
            click.echo(r.stdout.rstrip())
            if r.stderr.strip():
                click.echo(r.stderr.rstrip(), err=True)
    worst = max((r.exit_code for r in results), default=0)
    if worst:
        raise click.exceptions.Exit(min(worst, 125))
