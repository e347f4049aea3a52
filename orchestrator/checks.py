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
    yield from _duplicate_customers(fleet)
    yield from _fleet_unique(fleet)
    yield from _overlapping_subnets(fleet)
    for c in fleet.customers:
        rel = fleet.files.get(c.id, f"customers/{c.id}.yml")
        yield from _customer_checks(c, rel)
        for parts, message in pricing_findings(c, fleet.tariffs):
            yield rel, parts, message
    yield from _catalog_checks(fleet)


def _duplicate_customers(fleet: Fleet) -> Iterator[Finding]:
    seen: set[str] = set()
    for c in fleet.customers:
        if c.id in seen:
            yield fleet.files.get(c.id, ""), ("id",), f"duplicate customer id {c.id!r}"
        seen.add(c.id)


def _fleet_unique(fleet: Fleet) -> Iterator[Finding]:
    """Hostnames, addresses, MACs and contract ids are unique across the whole book."""
    owners: dict[tuple[str, str], tuple[str, tuple[PathPart, ...]]] = {}
    for c in fleet.customers:
        rel = fleet.files.get(c.id, "")
        for key, parts, label in _unique_keys(c):
            first = owners.setdefault(key, (rel, parts))
            if first != (rel, parts):
                where = f"{first[0]}:{'.'.join(map(str, first[1]))}"
                yield rel, parts, f"duplicate {label} {key[1]!r} (first used at {where})"


def _unique_keys(c: Customer) -> Iterator[tuple[tuple[str, str], tuple[PathPart, ...], str]]:
    for i, s in enumerate(c.systems):
        yield ("host", s.hostname), ("systems", i, "hostname"), "hostname"
        yield ("addr", str(s.address)), ("systems", i, "address"), "address"
        for j, p in enumerate(s.phones):
            yield ("mac", p.mac), ("systems", i, "phones", j, "mac"), "phone MAC"
    for i, site in enumerate(c.sites):
        if site.edge_router is not None:
            r = site.edge_router
            yield ("host", r.hostname), ("sites", i, "edge_router", "hostname"), "hostname"
            yield ("addr", str(r.address)), ("sites", i, "edge_router", "address"), "address"
    for i, k in enumerate(c.contracts):
        yield ("contract", k.id), ("contracts", i, "id"), "contract id"


def _overlapping_subnets(fleet: Fleet) -> Iterator[Finding]:
    """Sweep over sites sorted by network address: O(n log n) for large books."""
    sites: list[tuple[IPv4Network, str, int]] = []
    for c in fleet.customers:
        for i, site in enumerate(c.sites):
            sites.append((site.subnet, c.id, i))
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
            exts.setdefault(p.extension, j)
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
