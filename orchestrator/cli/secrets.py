"""``pbxops secrets``: the key that encrypts the secrets in the ledger."""

from __future__ import annotations

import os

import click

from .. import secrets_setup
from . import settings_of
from .output import json_option, print_json


@click.group("secrets")
def group() -> None:
    """The secret key (SIP passwords, CA and VPN keys are stored encrypted with it)."""


@group.command("init")
@json_option
@click.pass_context
def init(ctx: click.Context, as_json: bool) -> None:
    """Create the secret key file once (secret_key_file, 0600 in a 0700 directory).

    Refused when the file exists (a key is never replaced) or when the ledger already
    holds secrets (restore their key file instead). Back the file up: without it the
    stored secrets cannot be read.
    """
    made = secrets_setup.init_key(settings_of(ctx), os.environ.get("PBXOPS_SECRET_KEY"))
    if as_json:
        print_json({"key_file": str(made.path), "env_overrides": made.env_overrides})
        return
    click.echo(f"created secret key {made.path} (mode 0600); back it up with the ledger")
    if made.env_overrides:
        click.echo("note: PBXOPS_SECRET_KEY is set and is used instead of this file", err=True)
