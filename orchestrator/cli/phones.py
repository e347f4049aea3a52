"""``pbxops phones``: phone configurations, publishing, swaps and workarounds."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from ..context import actor_of
from ..errors import RefusedError
from ..phones import service, swap
from ..phones.publish import PublishOutcome
from . import settings_of
from .output import json_option, print_json, print_table

on_option = click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Check contracts on this date (YYYY-MM-DD; default: today).",
)
host_option = click.option("--host", "hostname", help="Only this PBX of the customer.")
show_secrets_option = click.option(
    "--show-secrets",
    is_flag=True,
    help="Show SIP passwords in clear. Recorded in the ledger with your name.",
)


def actor() -> str:
    """Who acts, recorded in the ledger: the one rule (PBXOPS_ACTOR > SUDO_USER > login)."""
    return actor_of()


def _day(on: datetime | None) -> date:
    return on.date() if on else date.today()


def _workspace(ctx: click.Context) -> service.Workspace:
    return service.open_workspace(settings_of(ctx))


@click.group("phones")
def group() -> None:
    """Phone configurations: render, diff, publish; hardware swaps and workarounds."""


@group.command("render")
@click.argument("customer")
@host_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files under OUT/<hostname>/ (passwords masked).")
@show_secrets_option
@json_option
@click.pass_context
def render(ctx: click.Context, customer: str, hostname: str | None, out: Path | None,
           show_secrets: bool, as_json: bool) -> None:
    """Render and validate every phone file of CUSTOMER; nothing is published."""
    ws = _workspace(ctx)
    hosts = service.render_customer(ws, customer, hostname)
    if show_secrets and out is None:
        raise RefusedError("--show-secrets with render needs --out DIR (files are not printed)")
    if out is not None:
        written = service.write_rendered(hosts, out, reveal=show_secrets)
        if show_secrets:  # recorded once the passwords are in files, and only then
            try:
                service.record_secrets_shown(ws, customer, actor(), f"phones render --out {out}")
            except BaseException:
                for path in written:
                    path.unlink(missing_ok=True)
                raise
    rows = [
        {"host": h.hostname, "file": f.name, "vendor": f.vendor, "mac": f.mac,
         "extension": f.extension, "bytes": len(f.content.encode())}
        for h in hosts for f in h.files.files
    ]
    if as_json:
        print_json({"customer": customer, "out": str(out) if out else None, "files": rows})
        return
    print_table(f"Phone files of {customer}", ["host", "file", "vendor", "mac", "extension", "bytes"],
                [list(r.values()) for r in rows])
    if out is not None:
        masked = "" if show_secrets else " (SIP passwords masked)"
        click.echo(f"wrote {len(rows)} files under {out}{masked}")


@group.command("diff")
@click.argument("customer")
@host_option
@show_secrets_option
@json_option
@click.pass_context
def diff(ctx: click.Context, customer: str, hostname: str | None, show_secrets: bool,
         as_json: bool) -> None:
    """What a publish would change, against the last successful publish."""
    ws = _workspace(ctx)
    changes = service.diff_customer(ws, customer, reveal=show_secrets, hostname=hostname)
    if show_secrets:  # recorded before anything is shown, once there is something to show
        service.record_secrets_shown(ws, customer, actor(), "phones diff")
    if as_json:
        print_json([c.__dict__ for c in changes])
        return
    pending = [c for c in changes if c.status != "unchanged"]
    for c in pending:
        click.echo(f"{c.status:8} {c.hostname}/{c.name}")
        for line in c.diff:
            click.echo(f"    {line}")
    click.echo(f"{len(pending)} of {len(changes)} files would change")


def _outcome_rows(outcomes: list[PublishOutcome]) -> list[dict[str, object]]:
    return [
        {"server": o.hostname, "owner": o.owner, "ok": o.ok, "changed": list(o.changed),
         "removed": list(o.removed), "error": o.error}
        for o in outcomes
    ]


def _print_outcomes(title: str, outcomes: list[PublishOutcome]) -> None:
    print_table(title, ["server", "owner", "changed", "removed"],
                [[o.hostname, o.owner, len(o.changed), len(o.removed)] for o in outcomes])
    if all(not o.changed and not o.removed for o in outcomes):
        click.echo("nothing changed")


@group.command("publish")
@click.argument("customer")
@host_option
@on_option
@json_option
@click.pass_context
def publish(ctx: click.Context, customer: str, hostname: str | None, on: datetime | None,
            as_json: bool) -> None:
    """Render, validate and publish CUSTOMER's phone files to each PBX's provisioning
    directory; files of phones removed from the book are removed there."""
    ws = _workspace(ctx)
    outcomes = service.publish_customer(ws, customer, actor(), _day(on), hostname=hostname)
    if as_json:
        print_json(_outcome_rows(outcomes))
        return
    _print_outcomes(f"Published phone files of {customer}", outcomes)


@group.command("swap")
@click.argument("customer")
@click.option("--old", "old_mac", required=True, help="MAC of the broken phone.")
@click.option("--new", "new_mac", required=True, help="MAC of the spare from the stock.")
@click.option("--model", help="Spare model to use (default: same model, else a compatible one).")
@click.option("--no-publish", is_flag=True, help="Change book, stock and ledger only.")
@on_option
@json_option
@click.pass_context
def swap_cmd(ctx: click.Context, customer: str, old_mac: str, new_mac: str, model: str | None,
             no_publish: bool, on: datetime | None, as_json: bool) -> None:
    """Replace a broken phone by a spare under the hardware-maintenance contract: the
    extension moves to the new MAC, the stock is decremented, the old file removed."""
    ws = _workspace(ctx)
    result = swap.swap_phone(ws, customer, old_mac, new_mac, actor(), _day(on), model,
                             publish=not no_publish)
    if as_json:
        data = {k: v for k, v in result.__dict__.items() if k != "published"}
        print_json({**data, "published": _outcome_rows(list(result.published))})
        return
    click.echo(
        f"extension {result.extension} on {result.hostname}: {result.old_mac} -> "
        f"{result.new_mac} ({result.model}), recorded against {result.contract_id}"
    )
    if result.published:
        _print_outcomes("Published", list(result.published))


@group.command("workaround")
@click.argument("customer")
@click.option("--to", "standby", required=True, help="Hostname of the standby PBX.")
@click.option("--revert", is_flag=True, help="End the workaround: back to the customer's PBX.")
@on_option
@json_option
@click.pass_context
def workaround(ctx: click.Context, customer: str, standby: str, revert: bool,
               on: datetime | None, as_json: bool) -> None:
    """While CUSTOMER's hardware PBX is down, re-point its phones to STANDBY (their
    configs are published there); --revert restores the normal state."""
    ws = _workspace(ctx)
    outcomes = swap.workaround(ws, customer, standby, actor(), _day(on), revert=revert)
    if as_json:
        print_json(_outcome_rows(outcomes))
        return
    verb = "reverted" if revert else "phones re-pointed to"
    _print_outcomes(f"Workaround for {customer}: {verb} {standby}", outcomes)


@group.command("credentials")
@click.argument("customer")
@host_option
@show_secrets_option
@json_option
@click.pass_context
def credentials(ctx: click.Context, customer: str, hostname: str | None, show_secrets: bool,
                as_json: bool) -> None:
    """SIP accounts of CUSTOMER's extensions (passwords only with --show-secrets)."""
    ws = _workspace(ctx)
    if show_secrets:
        service.record_secrets_shown(ws, customer, actor(), "phones credentials")
    rows = [
        {"host": ref.hostname, "extension": ext, "username": cred.username,
         "password": cred.password.reveal() if show_secrets else "********"}
        for ref in service.customer_hosts(ws.fleet, customer, hostname)
        for ext, cred in sorted(service.credentials_for(ws, ref.system).items())
    ]
    if as_json:
        print_json(rows)
        return
    print_table(f"SIP accounts of {customer}", ["host", "extension", "username", "password"],
                [list(r.values()) for r in rows])
