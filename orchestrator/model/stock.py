"""Spare-parts stock (``stock.yml``) kept for hardware-maintenance swaps."""

from __future__ import annotations

from pydantic import Field

from .base import Frozen
from .customer import Vendor


class StockItem(Frozen):
    vendor: Vendor
    model: str
    count: int = Field(ge=0)
    reserved: int = Field(default=0, ge=0)
    low_water: int = Field(default=1, ge=0)
    compatible: tuple[str, ...] = ()  # models this part can replace


class Stock(Frozen):
    items: tuple[StockItem, ...] = ()


class Technician(Frozen):
    id: str
    name: str
    email: str
    phone: str | None = None  # offered to customers whose SLA has the phone channel
    on_duty: tuple[str, ...] = ()  # window slots, e.g. "mon-fri 08:00-18:00"
    timezone: str = "Europe/Berlin"
