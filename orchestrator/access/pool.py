"""The tunnel address pool (pure): which addresses spokes may get, and interface names.

The pool's first host address is the hub's; spokes get the following ones. A pool that
overlaps a customer's site subnet would make the provider's routes shadow that site, so
it is refused before anything is allocated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from ..errors import ConfigError, RefusedError

IFNAME_MAX = 15  # Linux interface names


def parse_pool(text: str) -> IPv4Network:
    try:
        pool = IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ConfigError(f"vpn_pool {text!r} is not an IPv4 network: {exc}") from exc
    if pool.num_addresses < 4:
        raise ConfigError(f"vpn_pool {pool} is too small (need at least a /30)")
    return pool


def check_overlaps(pool: IPv4Network, subnets: Iterable[tuple[str, IPv4Network]]) -> None:
    """Refuse a pool that overlaps any ``(customer/site, subnet)``."""
    clashes = [f"{who} {net}" for who, net in subnets if pool.overlaps(net)]
    if clashes:
        raise RefusedError(
            f"address pool {pool} overlaps customer networks ({', '.join(clashes)}): "
            "choose another vpn_pool"
        )


def hub_address(pool: IPv4Network) -> IPv4Address:
    return next(pool.hosts())


def first_free(pool: IPv4Network, used: set[str]) -> str:
    """The lowest spoke address not in ``used``; RefusedError when the pool is exhausted."""
    hub = hub_address(pool)
    for address in pool.hosts():
        if address != hub and str(address) not in used:
            return str(address)
    raise RefusedError(f"address pool {pool} is exhausted ({len(used)} addresses in use)")


def spoke_interface(customer_id: str) -> str:
    """``wgs-<customer>`` within 15 characters; long ids get a short hash suffix."""
    name = f"wgs-{customer_id}"
    if len(name) <= IFNAME_MAX:
        return name
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:4]
    return f"wgs-{customer_id[: IFNAME_MAX - 9]}-{digest}"
