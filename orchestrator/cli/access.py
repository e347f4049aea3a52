"""``pbxops access``: WireGuard into customer sites, SSH by short-lived certificates."""

from __future__ import annotations

from collections.abc import Callable

import click

from .. import remote
from ..access import ca, service, sessions
from ..context import actor_of
from . import settings_of
from .output import json_option, print_json, print_table


def actor() -> str:
    """Who acts, recorded in the ledger: the one rule (PBXOPS_ACTOR > SUDO_USER > login)."""
    return actor_of()


def _show(result: service.AccessResult, as_json: bool) -> None:
    if as_json:
        print_json(result.as_dict())
        return
    print_table(
        f"{result.action} {result.customer_id} (contract {result.contract_id or '-'})",
        ["host", "tunnel", "status", "changed", "error"],
        [[h.hostname, h.tunnel_address, h.status, h.changed, h.error or ""] for h in result.hosts],
    )
    for r in result.routers:
        state = "applied" if r.pushed else f"error: {r.error}" if r.error else "written"
        click.echo(f"edge router {r.router.hostname} ({r.router.device_type}): {r.path} {state}")
    if result.revoked_serials:
        click.echo(f"revoked certificate serials: {', '.join(map(str, result.revoked_serials))}")


def _run_showing(
    call: Callable[[], service.AccessResult | list[service.AccessResult]], as_json: bool
) -> None:
    try:
        results = call()
    except service.AccessHostError as exc:
        _show(exc.result, as_json)
        raise
    for result in results if isinstance(results, list) else [results]:
        _show(result, as_json)


@click.group("access")
def group() -> None:
    """Remote access for SLA customers: WireGuard tunnel and SSH certificates."""


@group.command("grant")
@click.argument("customer")
@click.option("--configure-routers", is_flag=True, help="Push config to Linux edge routers.")
@json_option
@click.pass_context
def grant(ctx: click.Context, customer: str, configure_routers: bool, as_json: bool) -> None:
    """Set up remote access to CUSTOMER's PBX hosts (safe to repeat)."""
    settings = settings_of(ctx)
    _run_showing(
        lambda: service.grant(settings, customer, actor(), configure_routers=configure_routers),
        as_json,
    )


@group.command("status")
@click.argument("customer", required=False)
@json_option
@click.pass_context
def status(ctx: click.Context, customer: str | None, as_json: bool) -> None:
    """Tunnels, hub handshakes and valid certificates (of CUSTOMER or all)."""
    rows = service.status(settings_of(ctx), customer)
    if as_json:
        print_json(rows)
        return
    print_table(
        "remote access",
        ["customer", "host", "tunnel", "status", "hub peer", "handshake age", "certs"],
        [
            [
                r["customer"],
                r["host"],
                r["tunnel_address"],
                r["status"],
                "yes" if r["hub_peer"] else "no",
                "-" if r["handshake_age_s"] is None else f"{r['handshake_age_s']}s",
                r["valid_user_certs"],
            ]
            for r in rows
        ],
    )


@group.command("revoke")
@click.argument("target")
@json_option
@click.pass_context
def revoke(ctx: click.Context, target: str, as_json: bool) -> None:
    """Revoke a CUSTOMER (tunnel removed, certificates revoked) or a TECHNICIAN (every
    certificate revoked, and no new one until `pbxops access reinstate TECHNICIAN`)."""
    settings = settings_of(ctx)
    _run_showing(lambda: service.revoke(settings, target, actor()), as_json)


@group.command("reinstate")
@click.argument("technician")
@click.pass_context
def reinstate(ctx: click.Context, technician: str) -> None:
    """Let a revoked TECHNICIAN get certificates again (old ones stay revoked)."""
    service.reinstate(settings_of(ctx), technician, actor())
    click.echo(f"{technician} may get remote-access certificates again")


@group.command("rotate")
@click.argument("customer")
@json_option
@click.pass_context
def rotate(ctx: click.Context, customer: str, as_json: bool) -> None:
    """New tunnel keys and host certificates for CUSTOMER; its technician certs revoked."""
    settings = settings_of(ctx)
    _run_showing(lambda: service.rotate(settings, customer, actor()), as_json)


@group.command("login")
@click.argument("technician")
@click.argument("customer")
@click.argument("command", nargs=-1)
@click.option("--host", help="Which of the customer's hosts (default: the first).")
@click.option("--hours", type=float, default=sessions.DEFAULT_HOURS, show_default=True)
@click.option(
    "--forward",
    "forwarding",
    type=click.Choice(sorted(ca.FORWARDING)),
    multiple=True,
    help="Let the certificate permit this forwarding too (recorded); default: a pty only.",
)
@click.pass_context
def login(
    ctx: click.Context,
    technician: str,
    customer: str,
    command: tuple[str, ...],
    host: str | None,
    hours: float,
    forwarding: tuple[str, ...],
) -> None:
    """Open an SSH session as TECHNICIAN on CUSTOMER's host through the tunnel."""
    settings = settings_of(ctx)
    session = sessions.open_session(
        settings, technician, customer, hours=hours, forwarding=forwarding
    )
    argv = sessions.login_argv(settings, session, host, list(command))
    click.echo(
        f"certificate serial {session.certificate.serial}, valid until "
        f"{session.certificate.valid_before:%Y-%m-%d %H:%M} UTC",
        err=True,
    )
    code = remote.interactive(argv)
    if code:
        raise click.exceptions.Exit(code)


@group.group("hub")
def hub_group() -> None:
    """The provider-side WireGuard hub (wireguard-go on vpn_hub_interface)."""


@hub_group.command("status")
@json_option
@click.pass_context
def hub_status(ctx: click.Context, as_json: bool) -> None:
    """Whether the hub runs: pid, interface, addresses, routes, peers. Exit 0 either way."""
    st = service.hub_status(settings_of(ctx))
    if as_json:
        print_json(st.as_dict())
        return
    if not st.running and st.pid is None:
        click.echo(f"hub {st.interface}: not running (the next access grant starts it)")
        return
    click.echo(f"hub {st.interface}: {'running' if st.running else 'interface missing'}, "
               f"pid {st.pid if st.pid is not None else 'unknown'}")
    click.echo(f"  addresses: {', '.join(st.addresses) or '-'}")
    click.echo(f"  routes:    {', '.join(st.routes) or '-'}")
    click.echo(f"  peers:     {st.peers}   listen port: {st.listen_port or '-'}")


@hub_group.command("down")
@json_option
@click.pass_context
def hub_down(ctx: click.Context, as_json: bool) -> None:
    """Stop the hub by its pid: its interface and route go; tunnels stay recorded and the
    next access grant or rotate starts the hub again with the active peers."""
    settings = settings_of(ctx)
    pid = service.hub_down(settings)
    if as_json:
        print_json({"interface": settings.vpn_hub_interface, "stopped_pid": pid})
    elif pid is None:
        click.echo(f"hub {settings.vpn_hub_interface}: was not running")
    else:
        click.echo(f"hub {settings.vpn_hub_interface}: stopped (pid {pid})")


@group.command("renew")
@click.option("--schedule", "install", is_flag=True,
              help="Install the daily systemd timer that runs this (pbxops-access-renew).")
@click.option("--unschedule", "remove", is_flag=True, help="Remove that timer.")
@json_option
@click.pass_context
def renew(ctx: click.Context, install: bool, remove: bool, as_json: bool) -> None:
    """Renew SSH host certificates that end within 10 days (they last 30).

    Grants again each customer with such a host: WireGuard keys and technicians'
    certificates stay. Exit 6 when a customer's renewal failed (the others go on).
    """
    from ..access import renewal

    settings = settings_of(ctx)
    if install and remove:
        raise click.UsageError("--schedule and --unschedule exclude each other")
    if install:
        config = renewal.schedule(settings, actor())
        click.echo(f"installed {renewal.UNIT}.timer (daily); its runs read {config}")
        return
    if remove:
        gone = renewal.unschedule(settings)
        click.echo(f"removed {renewal.UNIT}.timer" if gone else "no renewal timer installed")
        return
    done = renewal.renew(settings, actor())
    if as_json:
        print_json([{"customer": r.customer_id, "hosts": list(r.hosts), "error": r.error}
                    for r in done])
    elif not done:
        click.echo("no host certificate ends within 10 days")
    else:
        print_table("Host certificates renewed", ["customer", "hosts", "error"],
                    [[r.customer_id, ", ".join(r.hosts), r.error] for r in done])
    if any(r.error for r in done):
        ctx.exit(6)
