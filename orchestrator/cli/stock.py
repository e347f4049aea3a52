"""``pbxops stock``: the spare-parts stock for hardware-maintenance swaps."""

from __future__ import annotations

import click

from ..phones import service, spares
from ..phones.stock import StockLevel
from . import settings_of
from .output import json_option, print_json, print_table
from .phones import actor


def _row(x: StockLevel) -> dict[str, object]:
    return {"vendor": x.vendor, "model": x.model, "count": x.count, "reserved": x.reserved,
            "available": x.available, "low_water": x.low_water, "low": x.low,
            "compatible": list(x.compatible)}


def _show(levels: list[StockLevel], as_json: bool, title: str = "Spare-parts stock") -> None:
    if as_json:
        print_json([_row(x) for x in levels])
        return
    print_table(title, ["vendor", "model", "count", "reserved", "available", "low water",
                        "replaces", "warning"],
                [[x.vendor, x.model, x.count, x.reserved, x.available, x.low_water,
                  ", ".join(x.compatible), "LOW STOCK" if x.low else ""] for x in levels])


@click.group("stock")
def group() -> None:
    """Spare parts: what is in stock, reserved, low; receive and reserve."""


@group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Spares per model (book baseline + ledger movements), with low-stock warnings."""
    _show(spares.stock_view(service.open_workspace(settings_of(ctx))), as_json)


@group.command("receive")
@click.argument("vendor")
@click.argument("model")
@click.option("--count", default=1, show_default=True, type=int, help="Devices received.")
@click.option("--note", default="", help="Delivery note, order number, ...")
@json_option
@click.pass_context
def receive(ctx: click.Context, vendor: str, model: str, count: int, note: str,
            as_json: bool) -> None:
    """Add delivered spares of VENDOR MODEL to the stock."""
    ws = service.open_workspace(settings_of(ctx))
    _show([spares.receive(ws, vendor, model, count, actor(), note)], as_json, "Received")


@group.command("reserve")
@click.argument("vendor")
@click.argument("model")
@click.option("--count", default=1, show_default=True, type=int, help="Devices to reserve.")
@click.option("--customer", help="Customer the spares are set aside for (recorded).")
@click.option("--note", default="", help="Why, e.g. the planned swap.")
@click.option("--release", is_flag=True, help="Release a reservation instead.")
@json_option
@click.pass_context
def reserve(ctx: click.Context, vendor: str, model: str, count: int, customer: str | None,
            note: str, release: bool, as_json: bool) -> None:
    """Set spares of VENDOR MODEL aside (or --release them)."""
    ws = service.open_workspace(settings_of(ctx))
    level = spares.reserve(ws, vendor, model, count, actor(), customer, note, release)
    _show([level], as_json, "Released" if release else "Reserved")
