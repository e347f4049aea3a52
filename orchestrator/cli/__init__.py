"""The ``pbxops`` command line. Click commands only: parse, call ``app``, render.

Each command group lives in its own module of this package and is registered below.
Library errors (``PbxopsError``) become one line on stderr and a meaningful exit code;
``PBXOPS_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from ..errors import PbxopsError
from ..fsutil import PRIVATE_UMASK
from ..scratch import sweep
from ..settings import Settings, load_settings


class PbxopsGroup(click.Group):
    """Turns library errors into one readable line and their exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PbxopsError as exc:
            if os.environ.get("PBXOPS_DEBUG") == "1":
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=PbxopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), help="Settings file (YAML).")
@click.option("--book", type=click.Path(file_okay=False), help="Contract book directory.")
@click.option("--ledger-url", help="SQLAlchemy URL of the ledger (default: SQLite file).")
@click.version_option(package_name="pbxops")
@click.pass_context
def main(ctx: click.Context, config: str | None, book: str | None, ledger_url: str | None) -> None:
    """pbxops: keep customers' telephone systems maintained under contract.

    Settings resolve as: option > environment (PBXOPS_*) > config file > default.
    """
    ctx.obj = {"args": {"book": book, "ledger_url": ledger_url}, "config": config}
    if ctx.invoked_subcommand not in SHARED_OUTPUT_COMMANDS:
        previous = os.umask(PRIVATE_UMASK)  # everything pbxops creates is the user's alone
        ctx.call_on_close(lambda: os.umask(previous))


# Commands whose files other users must read (the lab's apt repository is read by apt's
# _apt user, its web roots by the web server): they keep the caller's umask.
SHARED_OUTPUT_COMMANDS = frozenset({"lab"})


def settings_of(ctx: click.Context) -> Settings:
    """The resolved settings for this invocation (computed once)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {"args": {}, "config": None}
    if "settings" not in obj:
        obj["settings"] = load_settings(obj["args"], config=obj["config"])
        root.obj = obj
        sweep(obj["settings"].state_dir)  # scratch copies of secrets a killed run left
    settings: Settings = obj["settings"]
    return settings


# Command modules, each exposing ``group`` (a click group or command). Add yours here.
COMMAND_MODULES = ["fleet", "db", "lint", "lab", "access", "run", "phones", "stock", "wave", "health", "incident", "sla", "hours", "contracts", "docs", "secrets", "tickets"]


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        main.add_command(module.group)


_register()
