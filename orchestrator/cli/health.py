"""``pbxops health``: active monitoring of the PBX fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..health.checks import Thresholds
from ..health.prom import exposition
from ..health.service import SweepOutcome, watch
from ..health.sweep import SweepOptions
from ..sla import service
from . import settings_of
from .output import json_option, print_json, print_table


@click.group("health")
def group() -> None:
    """Health checks of every PBX: reachable, service, SIP, version, disk, memory,
    certificate, backup. Failing hosts open incidents."""


def _sweep_options(f: Any) -> Any:
    opts = [
        click.option(
            "--workers",
            type=int,
            default=32,
            show_default=True,
            help="Hosts checked at once (1: one after another).",
        ),
        click.option(
            "--ssh-config",
            type=click.Path(dir_okay=False, path_type=Path),
            help="ssh_config for reaching hosts (default: the lab's, when up).",
        ),
        click.option(
            "--textfile",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write Prometheus metrics to this textfile-collector file.",
        ),
        click.option("--no-incidents", is_flag=True, help="Report only; open no incidents."),
        click.option("--no-mail", is_flag=True, help="Open incidents without notification mail."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _opts(ctx: click.Context, workers: int, ssh_config: Path | None) -> SweepOptions:
    settings = settings_of(ctx)
    cfg = ssh_config or service.default_ssh_config(settings)
    limits = Thresholds(backup_warn_hours=settings.health_backup_max_age_hours)
    return SweepOptions(ssh_config=cfg, workers=workers, thresholds=limits)


def _render(outcome: SweepOutcome) -> None:
    r = outcome.result
    print_table(
        f"Health sweep: {len(r.hosts)} hosts in {r.duration_s:.1f}s, {len(r.failing)} failing",
        ["customer", "host", "status", "version", "problems"],
        [
            [
                h.customer,
                h.host,
                h.status.upper() if h.status != "ok" else "ok",
                h.version or "-",
                "; ".join(
                    f"{c.name}: {c.message}" for c in h.checks if c.status in ("warn", "fail")
                ),
            ]
            for h in r.hosts
        ],
    )
    for o in outcome.opened:
        mail = (
            f"mail to {', '.join(o.notified)}" if o.notified else f"mail: {o.mail_error or 'off'}"
        )
        click.echo(
            f"opened {o.incident.ticket} {o.incident.host}: react by "
            f"{o.incident.deadline:%Y-%m-%d %H:%M %Z} ({mail})"
        )
    for ticket in outcome.already_open:
        click.echo(f"still open: {ticket}")


def warn_failed_mails(outcome: SweepOutcome) -> None:
    """A notification that did not go out is said on stderr in every output format (the
    ledger has it too), so nobody assumes the customer's team was told."""
    for o in outcome.opened:
        if o.mail_error:
            click.echo(f"warning: notification mail for {o.incident.ticket} failed: "
                       f"{o.mail_error}", err=True)


def _as_json(outcome: SweepOutcome) -> dict[str, Any]:
    return {
        "duration_s": outcome.result.duration_s,
        "hosts": [h.as_dict() for h in outcome.result.hosts],
        "opened": [o.incident.ticket for o in outcome.opened],
        "still_open": list(outcome.already_open),
    }


@group.command("sweep")
@click.argument("customers", nargs=-1)
@_sweep_options
@click.option("--prometheus", is_flag=True, help="Print the Prometheus exposition instead.")
@json_option
@click.pass_context
def sweep(
    ctx: click.Context,
    customers: tuple[str, ...],
    workers: int,
    ssh_config: Path | None,
    textfile: Path | None,
    no_incidents: bool,
    no_mail: bool,
    prometheus: bool,
    as_json: bool,
) -> None:
    """Check every host (or CUSTOMERS' hosts) once; exit 1 when any host fails."""
    outcome = service.health_sweep(
        settings_of(ctx),
        _opts(ctx, workers, ssh_config),
        customers,
        textfile,
        not no_incidents,
        not no_mail,
    )
    if prometheus:
        click.echo(exposition(outcome.result), nl=False)
    elif as_json:
        print_json(_as_json(outcome))
    else:
        _render(outcome)
    warn_failed_mails(outcome)
    if outcome.result.failing:
        ctx.exit(1)


@group.command("watch")
@_sweep_options
@click.option(
    "--interval", type=float, default=60.0, show_default=True, help="Seconds between sweeps."
)
@click.option("--port", type=int, help="Serve /metrics on this port (prometheus-client).")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address for --port.")
@click.option("--count", type=int, help="Stop after N sweeps (default: run until stopped).")
@click.pass_context
def watch_cmd(
    ctx: click.Context,
    workers: int,
    ssh_config: Path | None,
    textfile: Path | None,
    no_incidents: bool,
    no_mail: bool,
    interval: float,
    port: int | None,
    listen: str,
    count: int | None,
) -> None:
    """Sweep forever (for a systemd service), serving the latest metrics on --port."""
    settings, opts = settings_of(ctx), _opts(ctx, workers, ssh_config)

    def once() -> SweepOutcome:
        return service.health_sweep(settings, opts, (), textfile, not no_incidents, not no_mail)

    def report(o: SweepOutcome) -> None:
        opened = ", ".join(i.incident.ticket for i in o.opened) or "none"
        click.echo(
            f"{o.result.started:%H:%M:%S} {len(o.result.hosts)} hosts, "
            f"{len(o.result.failing)} failing, opened: {opened}"
        )

    watch(once, interval, port, count, report, listen)


