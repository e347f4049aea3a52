"""What every access use case needs, opened once: book, ledger, vault, pool, paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from ipaddress import IPv4Network
from pathlib import Path

from .. import context as base
from ..errors import ConfigError
from ..fleet import Fleet
from ..ledger import Ledger
from ..secrets import Vault
from ..settings import Settings
from .pool import check_overlaps, parse_pool
from .spokes import site_subnets


@dataclass(frozen=True)
class Context:
    settings: Settings
    fleet: Fleet
    pool: IPv4Network
    now: datetime
    base: base.Context

    @property
    def ledger(self) -> Ledger:
        return self.base.ledger

    @property
    def vault(self) -> Vault:
        """The secret key, opened (and checked against the ledger) on first use."""
        return self.base.vault

    @property
    def actor(self) -> str:
        return self.base.actor

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def dir(self) -> Path:
        """Public access material: KRLs, known_hosts, rendered router configs, hub log."""
        return self.settings.state_dir / "access"

    @property
    def hub_port(self) -> int:
        _, _, port = self.settings.vpn_hub_endpoint.rpartition(":")
        if not port.isdigit():
            raise ConfigError(f"vpn_hub_endpoint {self.settings.vpn_hub_endpoint!r}: no port")
        return int(port)


def open_context(settings: Settings, now: datetime | None = None, *,
                 readonly: bool = False) -> Context:
    """The access view of the one context (``orchestrator.context``): its book, ledger and
    checked vault, plus the tunnel pool (checked against the customers' networks)."""
    ctx = base.open_context(settings, clock=(lambda: now) if now else None, readonly=readonly)
    fleet = ctx.fleet
    pool = parse_pool(settings.vpn_pool)
    check_overlaps(pool, site_subnets(fleet))
    return Context(
        settings=settings,
        fleet=fleet,
        pool=pool,
        now=ctx.now(),
        base=ctx,
    )
