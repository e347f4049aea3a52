"""Tariffs (``tariffs.yml``): the prices the pricing basis is computed from (per month)."""

from __future__ import annotations

from pydantic import Field

from .base import Frozen


class SlaRate(Frozen):
    reaction_hours: float = Field(gt=0)
    per_extension: float = Field(ge=0)


class Tariffs(Frozen):
    currency: str = "EUR"
    software_per_licence: dict[str, float] = Field(default_factory=dict)  # kind -> per month
    hardware_percent_per_year: float = Field(default=0, ge=0)  # of purchase cost
    sla_rates: tuple[SlaRate, ...] = ()  # the rate with the smallest reaction >= SLA's applies
    hosting_per_extension: float = Field(default=0, ge=0)
    hour_rate: float = Field(default=0, ge=0)
