"""``pbxops lab``: the local test lab (hosts in network namespaces, apt repo, SIP)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click

from .. import lab
from ..errors import ConfigError, LabError
from . import settings_of
from .output import console, json_option, print_json, print_table


@click.group("lab")
def group() -> None:
    """Local test lab: real PBX hosts (systemd-nspawn in network namespaces) on this machine.

    Needs root. State, keys and the ssh_config live in the lab run dir (PBXOPS_LAB_RUN_DIR).
    """


@group.command("up")
@click.option(
    "--book",
    "book",
    type=click.Path(file_okay=False, path_type=Path),
    help="Contract book whose PBX hosts to start (default: the configured book).",
)
@click.option("--hosts", "count", type=int, help="Start N synthetic hosts instead of a book.")
@click.option(
    "--debian",
    is_flag=True,
    help="Hosts take real Debian packages (bookworm sources via the lab's apt-cacher-ng, "
    "4 GiB disk): for OS upgrade waves (debian-12-updates, debian-13).",
)
@click.pass_context
def up(ctx: click.Context, book: Path | None, count: int | None, debian: bool) -> None:
    """Build (first time: a few minutes) and start the lab; harmless when already up."""
    settings = settings_of(ctx)
    if book is not None and count is not None:
        raise LabError("give --book or --hosts, not both")
    specs = lab.synthetic_specs(count) if count else lab.specs_from_book(book or settings.book)
    if debian:
        specs = [dataclasses.replace(s, debian=True) for s in specs]
    out = console(err=True)
    if not out.is_terminal:  # logs and CI: one line per step instead of a spinner
        state = lab.up(settings, specs, report=lambda msg: click.echo(f"lab: {msg}", err=True))
    else:
        with out.status("lab: starting") as status:
            state = lab.up(settings, specs, report=lambda msg: status.update(f"lab: {msg}"))
    paths = lab.LabPaths.of(settings)
    click.echo(f"lab up: {len(state.hosts)} hosts; ssh -F {paths.ssh_config} HOST")


@group.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop every lab host and remove all namespaces, mounts, links and processes it made
    (its VPN hub and Request Tracker too)."""
    settings = settings_of(ctx)
    had_rt = lab.rt.rt_dir(lab.LabPaths.of(settings)).exists()
    removed = lab.down(settings)
    click.echo(f"lab down: {removed} hosts removed" if removed else "no lab was up")
    if had_rt:
        click.echo("lab RT stopped and removed")


@group.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Each lab host: address, running, ssh reachable, SIP answer and version, memory."""
    rows = lab.lab_status(settings_of(ctx))
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo("no lab is up")
        return
    print_table(
        "lab hosts",
        ["host", "address", "running", "ssh", "SIP", "version", "MiB"],
        [
            [
                r.name,
                r.address,
                _yn(r.running),
                _yn(r.ssh),
                r.sip_status,
                r.sip_version,
                r.memory_mb,
            ]
            for r in rows
        ],
    )


def _yn(value: bool) -> str:
    return "yes" if value else "no"


@group.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ssh(ctx: click.Context, host: str, command: tuple[str, ...]) -> None:
    """Log in to lab host HOST as the ops user (host keys checked): lab ssh HOST [-- CMD...]."""
    paths = lab.LabPaths.of(settings_of(ctx))
    if not paths.ssh_config.is_file():
        raise LabError("no lab is up (run `pbxops lab up`)")
    argv = lab.ssh_argv(paths, host, list(command))
    os.execvp(argv[0], argv)


@group.command("fault")
@click.argument("host")
@click.argument("kind", type=click.Choice(sorted(lab.FAULTS)))
@click.option("--clear", is_flag=True, help="Undo the fault instead of injecting it.")
@click.pass_context
def fault(ctx: click.Context, host: str, kind: str, clear: bool) -> None:
    """Break lab host HOST (network-down, sshd-down, disk-full, repo-unreachable, sip-hang,
    reboot) or, with --clear, repair it."""
    settings = settings_of(ctx)
    if clear:
        lab.clear_fault(settings, host, kind)
    else:
        lab.inject_fault(settings, host, kind)
    click.echo(f"{host}: {kind} {'cleared' if clear else 'injected'}")


@group.command("snapshot")
@click.argument("host")
@click.argument("label")
@json_option
@click.pass_context
def snapshot(ctx: click.Context, host: str, label: str, as_json: bool) -> None:
    """Copy lab host HOST's writable layer (all it changed since `lab up`) as LABEL: the host
    is shut down for the copy and booted again. Undo an OS upgrade with `lab restore`."""
    path = lab.take_snapshot(settings_of(ctx), host, label, report=_progress)
    if as_json:
        print_json({"host": host, "label": label, "path": str(path)})
    else:
        click.echo(f"{host}: snapshot {label} taken ({path})")


@group.command("restore")
@click.argument("host")
@click.argument("label")
@json_option
@click.pass_context
def restore(ctx: click.Context, host: str, label: str, as_json: bool) -> None:
    """Put lab host HOST back to its snapshot LABEL (shut down, layer replaced, booted)."""
    lab.restore_snapshot(settings_of(ctx), host, label, report=_progress)
    if as_json:
        print_json({"host": host, "label": label, "restored": True})
    else:
        click.echo(f"{host}: restored to snapshot {label}")


def _progress(message: str) -> None:
    click.echo(f"lab: {message}", err=True)


@group.group("rt")
def rt_group() -> None:
    """The lab's Request Tracker 5 (for `make demo`): on the provider address of a lab that
    is up (else loopback), data in the lab run dir, its API password encrypted at rest."""


def _rt_row(r: lab.rt.LabRt) -> str:
    state = "running" if r.running else "not running"
    return f"lab RT {state}: {r.url} (user {r.user}, pid {r.pid}, data {r.data})"


@rt_group.command("up")
@click.option(
    "--listen",
    type=click.Choice(["provider", "loopback"]),
    help="Address to listen on: the lab's provider address "
    f"({lab.PROVIDER_INTERFACE.ip}) or 127.0.0.1 (default: provider when a lab is up).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=lab.rt.RT_PORT,
    show_default=True,
    help="TCP port.",
)
@json_option
@click.pass_context
def rt_up(ctx: click.Context, listen: str | None, port: int, as_json: bool) -> None:
    """Start the lab's RT (first time: makes its database and the API user's password,
    stored encrypted); harmless when it runs. Then: `pbxops lab rt password |
    pbxops tickets login --password-stdin` with ticket_url and ticket_user set."""
    settings = settings_of(ctx)
    host = {"provider": str(lab.PROVIDER_INTERFACE.ip), "loopback": "127.0.0.1"}.get(listen or "")
    r = lab.rt.up(settings, host, port, report=_progress)
    if as_json:
        print_json(r.as_dict())
    else:
        click.echo(_rt_row(r))
        click.echo(f"  PBXOPS_TICKET_URL={r.url} PBXOPS_TICKET_USER={r.user}")


@rt_group.command("status")
@json_option
@click.pass_context
def rt_status(ctx: click.Context, as_json: bool) -> None:
    """The lab's RT: URL, user, pid, running (exit 4 when none was started)."""
    r = lab.rt.status(settings_of(ctx))
    if as_json:
        print_json(r.as_dict() if r else None)
    elif r is None:
        click.echo("no lab RT (start one with `pbxops lab rt up`)")
    else:
        click.echo(_rt_row(r))
    if r is None:
        ctx.exit(4)


@rt_group.command("down")
@click.pass_context
def rt_down(ctx: click.Context) -> None:
    """Stop the lab's RT by its pid and remove its data (`pbxops lab down` does it too)."""
    removed = lab.rt.down(settings_of(ctx))
    click.echo("lab RT stopped and removed" if removed else "no lab RT")


@rt_group.command("password")
@click.pass_context
def rt_password(ctx: click.Context) -> None:
    """Write the API user's password to a pipe, for `pbxops tickets login
    --password-stdin`; refused on a terminal (it is never shown)."""
    if sys.stdout.isatty():
        raise ConfigError(
            "refusing to show the lab RT's password on a terminal: pipe it, "
            "`pbxops lab rt password | pbxops tickets login --password-stdin`"
        )
    sys.stdout.write(lab.rt.secret(settings_of(ctx)).reveal() + "\n")
