"""Cross-reference rules of the contract book, beyond what each file's schema checks.

Each rule yields ``(file, yaml_path_parts, message)``; the fleet loader adds line numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from .bookio import PathPart
from .contract_checks import contract_findings, pricing_findings
from .model import Customer, Hosting

if TYPE_CHECKING:
    from .fleet import Fleet

Finding = tuple[str, tuple[PathPart, ...], str]


def cross_checks(fleet: Fleet) -> Iterator[Finding]:
    """Every cross-reference finding, from one walk over the customers (the fleet-wide
    rules collect what they compare on the way; a 10,000-customer book is walked once)."""
    duplicates: list[Finding] = []
    unique = _Unique()
    sites: list[tuple[IPv4Network, str, int]] = []
    per_customer: list[Finding] = []
    seen: set[str] = set()
    for c in fleet.customers:
        rel = fleet.files.get(c.id, f"customers/{c.id}.yml")
        if c.id in seen:
            duplicates.append(
                (fleet.files.get(c.id, ""), ("id",), f"duplicate customer id {c.id!r}")
            )
        seen.add(c.id)
        unique.add(c, fleet.files.get(c.id, ""))
        sites.extend((site.subnet, c.id, i) for i, site in enumerate(c.sites))
        per_customer.extend(_customer_checks(c, rel))
        per_customer.extend(
            (rel, parts, message) for parts, message in pricing_findings(c, fleet.tariffs)
        )
    yield from duplicates
    yield from unique.findings
    yield from _overlapping_subnets(fleet, sites)
    yield from per_customer
    yield from _catalog_checks(fleet)


class _Unique:
    """Hostnames, addresses, MACs and contract ids are unique across the whole book. Where a
    value was first used is kept as indexes; its YAML path is built only for a duplicate."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], tuple[str, tuple[PathPart, ...]]] = {}
        self.macs: dict[str, tuple[str, int, int]] = {}
        self.findings: list[Finding] = []

    def add(self, c: Customer, rel: str) -> None:
        for i, s in enumerate(c.systems):
            self._one(("host", s.hostname), rel, ("systems", i, "hostname"), "hostname")
            self._one(("addr", str(s.address)), rel, ("systems", i, "address"), "address")
            macs = self.macs
            for j, p in enumerate(s.phones):
                if p.mac not in macs:
                    macs[p.mac] = (rel, i, j)
                    continue
                f_rel, f_i, f_j = macs[p.mac]
                where = (f_rel, ("systems", f_i, "phones", f_j, "mac"))
                parts = ("systems", i, "phones", j, "mac")
                self._duplicate(rel, parts, "phone MAC", p.mac, where)
        for i, site in enumerate(c.sites):
            if site.edge_router is not None:
                r = site.edge_router
                self._one(
                    ("host", r.hostname), rel, ("sites", i, "edge_router", "hostname"), "hostname"
                )
                self._one(
                    ("addr", str(r.address)), rel, ("sites", i, "edge_router", "address"), "address"
                )
        for i, k in enumerate(c.contracts):
            self._one(("contract", k.id), rel, ("contracts", i, "id"), "contract id")

    def _one(self, key: tuple[str, str], rel: str, parts: tuple[PathPart, ...], label: str) -> None:
        first = self.first.setdefault(key, (rel, parts))
        if first != (rel, parts):
            self._duplicate(rel, parts, label, key[1], first)

    def _duplicate(
        self,
        rel: str,
        parts: tuple[PathPart, ...],
        label: str,
        value: str,
        first: tuple[str, tuple[PathPart, ...]],
    ) -> None:
        where = f"{first[0]}:{'.'.join(map(str, first[1]))}"
        self.findings.append((rel, parts, f"duplicate {label} {value!r} (first used at {where})"))


def _overlapping_subnets(
    fleet: Fleet, sites: list[tuple[IPv4Network, str, int]]
) -> Iterator[Finding]:
    """Sweep over sites sorted by network address: O(n log n) for large books."""
    sites.sort(key=lambda t: (int(t[0].network_address), -t[0].prefixlen))
    widest: tuple[IPv4Network, str, int] | None = None
    for net, cid, i in sites:
        if widest is not None and net.overlaps(widest[0]):
            where = f"{widest[1]} site {widest[2]} ({widest[0]})"
            yield fleet.files.get(cid, ""), ("sites", i, "subnet"), f"subnet {net} overlaps {where}"
        if widest is None or int(net.broadcast_address) > int(widest[0].broadcast_address):
            widest = (net, cid, i)


def _customer_checks(c: Customer, rel: str) -> Iterator[Finding]:
    yield from _system_checks(c, rel)
    yield from _contract_checks(c, rel)


def _system_checks(c: Customer, rel: str) -> Iterator[Finding]:
    for i, s in enumerate(c.systems):
        site = c.site(s.site)
        if site is None:
            known = ", ".join(x.id for x in c.sites)
            yield rel, ("systems", i, "site"), f"unknown site {s.site!r} (known: {known})"
        elif s.address not in site.subnet:
            yield (
                rel,
                ("systems", i, "address"),
                f"address {s.address} is outside site subnet {site.subnet}",
            )
        exts: dict[str, int] = {}
        for j, p in enumerate(s.phones):
            if p.extension in exts:
                yield (
                    rel,
                    ("systems", i, "phones", j, "extension"),
                    f"duplicate extension {p.extension} on {s.hostname} (also phones[{exts[p.extension]}])",
                )
            else:
                exts[p.extension] = j
        if s.deployment == "virtual" and not any(
            isinstance(k, Hosting) for k in c.contracts_for(s.hostname)
        ):
            yield rel, ("systems", i, "deployment"), "virtual PBX without a hosting contract"


def _contract_checks(c: Customer, rel: str) -> Iterator[Finding]:
    hostnames = {s.hostname for s in c.systems}
    for i, k in enumerate(c.contracts):
        for j, h in enumerate(k.systems):
            if h not in hostnames:
                yield (
                    rel,
                    ("contracts", i, "systems", j),
                    f"contract {k.id} names unknown system {h!r}",
                )
    for parts, message in contract_findings(c):
        yield rel, parts, message


def _catalog_checks(fleet: Fleet) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, r in enumerate(fleet.catalog.releases):
        if r.id in seen:
            yield "releases.yml", ("releases", i, "id"), f"duplicate release id {r.id!r}"
        seen.add(r.id)
