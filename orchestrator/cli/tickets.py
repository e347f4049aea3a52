"""``pbxops tickets``: incidents as tickets in Request Tracker (login, sync, status)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click

from ..tickets import service
from ..tickets.sync import SyncOutcome
from . import settings_of
from .output import json_option, print_json, print_table


@click.group("tickets")
def group() -> None:
    """The ticket system (Request Tracker 5): login, sync, status."""


@group.command("login")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password (or token) from stdin instead of prompting.",
)
@click.pass_context
def login(ctx: click.Context, password_stdin: bool) -> None:
    """Store the RT password of ticket_user (or an RT auth token when ticket_user is
    empty), encrypted with the secret key; it is tried against RT first."""
    if password_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = click.prompt("RT password or token", hide_input=True)
    path = service.login(settings_of(ctx), secret)
    click.echo(f"RT credentials stored encrypted in {path}")


def _sync_dict(o: SyncOutcome) -> dict[str, Any]:
    data = asdict(o)
    data["waiting"] = [asdict(e) for e in o.waiting]
    data["triage"] = [{"ticket": t, "sender": s, "subject": subj} for t, s, subj in o.triage]
    return data


def _show(o: SyncOutcome) -> None:
    for label, items in (
        ("ticket created", o.created),
        ("ticket updated", o.updated),
        ("incident opened", o.opened),
        ("acknowledged in RT", o.acked),
        ("resolved in RT", o.resolved),
    ):
        for item in items:
            click.echo(f"{label}: {item}")
    if not o.changed:
        click.echo("in sync: nothing to do")
    for t, sender, subject in o.triage:
        click.echo(f"triage: #{t} from {sender} matches no customer: {subject}")
    for e in o.waiting:
        click.echo(f"waiting: INC-{e.incident_id:06d} {e.action} ({e.attempts} tries): "
                   f"{e.last_error or 'not tried yet'}")
    for m in o.mail_errors:
        click.echo(f"warning: {m}", err=True)
    for m in o.failed:
        click.echo(f"warning: not sent to RT: {m}", err=True)


@group.command("sync")
@click.option("--no-mail", is_flag=True, help="Do not mail incidents opened from tickets.")
@json_option
@click.pass_context
def sync(ctx: click.Context, no_mail: bool, as_json: bool) -> None:
    """Send waiting ticket actions to RT and bring RT's changes back.

    Idempotent and safe from a timer: mail-born tickets open incidents (once), RT
    replies, owners and resolutions update them. Exit 8 when RT could not be reached
    (what is left waits in the outbox for the next sync).
    """
    o = service.sync(settings_of(ctx), mail=not no_mail)
    if as_json:
        print_json(_sync_dict(o))
    else:
        _show(o)
    if o.error:
        click.echo(f"error: {o.error}", err=True)
        ctx.exit(8)


@group.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Linked tickets, actions waiting in the outbox, tickets waiting in triage."""
    s = service.status(settings_of(ctx))
    if as_json:
        print_json(
            {
                "url": s.url,
                "links": s.links,
                "outbox": [asdict(e) for e in s.outbox],
                "triage": [
                    {"ticket": t, "sender": a, "subject": b} for t, (a, b) in s.triage.items()
                ],
            }
        )
        return
    click.echo(f"ticket system: {s.url}; {s.links} incidents linked to tickets")
    print_table(
        f"Outbox ({len(s.outbox)} waiting)",
        ["incident", "action", "tries", "error"],
        [[f"INC-{e.incident_id:06d}", e.action, str(e.attempts), e.last_error or ""]
         for e in s.outbox],
    )
    print_table(
        f"Triage ({len(s.triage)})",
        ["ticket", "sender", "subject"],
        [[f"#{t}", a, b] for t, (a, b) in s.triage.items()],
    )
