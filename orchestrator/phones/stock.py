"""The spare-parts stock: the book's ``stock.yml`` is the baseline, ledger movements
(received, reserved, released, used in a swap) change it. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import RefusedError
from ..ledger.phones import StockMovement
from ..model import Stock


@dataclass(frozen=True)
class StockLevel:
    vendor: str
    model: str
    count: int
    reserved: int
    low_water: int
    compatible: tuple[str, ...] = ()

    @property
    def available(self) -> int:
        return max(self.count - self.reserved, 0)

    @property
    def low(self) -> bool:
        """At or below the low-water mark: time to reorder."""
        return self.available <= self.low_water

    def replaces(self, vendor: str, model: str) -> bool:
        return self.vendor == vendor and (self.model == model or model in self.compatible)


def stock_levels(baseline: Stock, movements: Iterable[StockMovement]) -> list[StockLevel]:
    """Baseline plus every movement, sorted by vendor and model."""
    levels: dict[tuple[str, str], StockLevel] = {
        (i.vendor, i.model): StockLevel(
            i.vendor, i.model, i.count, i.reserved, i.low_water, i.compatible
        )
        for i in baseline.items
    }
    for m in movements:
        old = levels.get((m.vendor, m.model), StockLevel(m.vendor, m.model, 0, 0, 0))
        levels[(m.vendor, m.model)] = StockLevel(
            old.vendor,
            old.model,
            old.count + m.count_delta,
            max(old.reserved + m.reserved_delta, 0),
            old.low_water,
            old.compatible,
        )
    return [levels[k] for k in sorted(levels)]


def level(levels: Iterable[StockLevel], vendor: str, model: str) -> StockLevel | None:
    return next((x for x in levels if x.vendor == vendor and x.model == model), None)


def replacement_for(
    levels: Iterable[StockLevel], vendor: str, model: str, wanted: str | None = None
) -> StockLevel:
    """The spare to use for a broken ``vendor model``: the same model first, then a
    compatible one; ``wanted`` picks a model explicitly. RefusedError when none is in stock.
    """
    candidates = [x for x in levels if x.replaces(vendor, model)]
    if wanted is not None:
        candidates = [x for x in candidates if x.model == wanted]
    usable = sorted(
        (x for x in candidates if x.available > 0), key=lambda x: (x.model != model, x.model)
    )
    if usable:
        return usable[0]
    what = f"{vendor} {model}" + (f" (asked for {wanted})" if wanted else "")
    seen = ", ".join(f"{x.model}: {x.available} available" for x in candidates) or "none"
    raise RefusedError(f"no compatible spare in stock for {what}; compatible stock: {seen}")


def check_reserve(current: StockLevel | None, vendor: str, model: str, count: int) -> None:
    if current is None:
        raise RefusedError(f"{vendor} {model} is not in the spare-parts stock")
    if count > current.available:
        raise RefusedError(
            f"cannot reserve {count} x {vendor} {model}: only {current.available} available"
        )


def check_release(current: StockLevel | None, vendor: str, model: str, count: int) -> None:
    reserved = current.reserved if current else 0
    if count > reserved:
        raise RefusedError(f"cannot release {count} x {vendor} {model}: {reserved} reserved")
