"""Contract rules of the book that the schema cannot see: contradictions between contracts
and the systems they cover, and prices the tariffs lack. Each rule yields
``(yaml_path_parts, message)`` inside one customer's file; ``checks`` adds the file and the
loader the line, so every finding is reported at once like the others.

- Hardware maintenance is only sold with an SLA: every system it covers needs SLAs covering
  that system over its whole period (back-to-back renewals count together).
- A virtual PBX's software and server maintenance are in its hosting package: a separate
  software-maintenance or hardware-maintenance contract on it would be billed twice.
- Every licence kind a software-maintenance contract is priced on, and every SLA's reaction
  time, has a tariff (checked only when the book has a ``tariffs.yml``).
"""

from __future__ import annotations

from collections.abc import Iterator

from .bookio import PathPart
from .model import (
    Contract,
    Customer,
    HardwareMaintenance,
    Sla,
    SoftwareMaintenance,
    System,
    Tariffs,
)
from .model.contract import Gap, uncovered

Finding = tuple[tuple[PathPart, ...], str]


def contract_findings(c: Customer) -> Iterator[Finding]:
    for i, k in enumerate(c.contracts):
        if isinstance(k, HardwareMaintenance):
            yield from _hardware_needs_sla(c, i, k)
        if isinstance(k, HardwareMaintenance | SoftwareMaintenance):
            yield from _not_on_virtual(c, i, k)


def pricing_findings(c: Customer, tariffs: Tariffs) -> Iterator[Finding]:
    if not tariffs.model_fields_set:  # no tariffs.yml: nothing to price against
        return
    yield from _licence_gaps(c, tariffs)
    yield from _reaction_gaps(c, tariffs)


def _covered(c: Customer, k: Contract) -> list[tuple[int, System]]:
    return [(i, s) for i, s in enumerate(c.systems) if not k.systems or s.hostname in k.systems]


def _span(gap: Gap) -> str:
    first, last = gap
    if last is None:
        return f"from {first} on"
    return f"on {first}" if first == last else f"from {first} to {last}"


def _hardware_needs_sla(c: Customer, i: int, k: HardwareMaintenance) -> Iterator[Finding]:
    for _, system in _covered(c, k):
        slas = [x for x in c.contracts_for(system.hostname) if isinstance(x, Sla)]
        gaps = uncovered(k.start, k.end, slas)
        if gaps:
            spans = ", ".join(_span(g) for g in gaps)
            yield (
                ("contracts", i),
                f"hardware maintenance {k.id} is only valid together with an SLA: "
                f"no SLA covers {system.hostname} {spans}",
            )


def _not_on_virtual(
    c: Customer, i: int, k: HardwareMaintenance | SoftwareMaintenance
) -> Iterator[Finding]:
    hint = "" if k.systems else "; list the hardware PBXs it covers under `systems:`"
    for _, system in _covered(c, k):
        if system.deployment != "virtual":
            continue
        if isinstance(k, SoftwareMaintenance):
            what = "software maintenance is included in its hosting package"
        else:
            what = "its server is the provider's, maintained under the hosting package"
        yield (
            ("contracts", i),
            f"{k.kind.replace('_', '-')} contract {k.id} covers virtual PBX "
            f"{system.hostname}: {what} (it would be billed twice){hint}",
        )


def _licence_gaps(c: Customer, tariffs: Tariffs) -> Iterator[Finding]:
    priced: dict[tuple[int, int], str] = {}  # (system, licence) -> the contract priced on it
    for k in c.contracts:
        if isinstance(k, SoftwareMaintenance):
            for i, system in _covered(c, k):
                for j, _ in enumerate(system.licences):
                    priced.setdefault((i, j), k.id)
    for (i, j), contract in sorted(priced.items()):
        kind = c.systems[i].licences[j].kind
        if kind not in tariffs.software_per_licence:
            yield (
                ("systems", i, "licences", j, "kind"),
                f"tariffs.yml has no software_per_licence price for licence kind {kind!r} "
                f"(contract {contract} is priced on it)",
            )


def _reaction_gaps(c: Customer, tariffs: Tariffs) -> Iterator[Finding]:
    slowest = max((r.reaction_hours for r in tariffs.sla_rates), default=None)
    for i, k in enumerate(c.contracts):
        if isinstance(k, Sla) and (slowest is None or k.reaction_hours > slowest):
            have = f"the slowest rate is for {slowest:g} h" if slowest else "it has none"
            yield (
                ("contracts", i, "reaction_hours"),
                f"tariffs.yml has no sla_rates entry for {k.reaction_hours:g} h reaction "
                f"(SLA {k.id}; {have})",
            )
