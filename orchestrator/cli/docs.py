"""``pbxops docs``: the technician hand-over page of a customer."""

from __future__ import annotations

from pathlib import Path

import click

from ..sla import service
from . import settings_of


@click.command("docs")
@click.argument("customers", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write to (default: <state dir>/docs).",
)
@click.pass_context
def group(ctx: click.Context, customers: tuple[str, ...], out: Path | None) -> None:
    """Write CUSTOMERS' documentation as Markdown and HTML (no secrets)."""
    settings = settings_of(ctx)
    target = out or settings.state_dir / "docs"
    for customer, r in zip(
        dict.fromkeys(customers), service.customers_docs(settings, customers, target), strict=True
    ):
        click.echo(f"{customer}: {r.markdown} {r.html}")
