"""What every access use case needs, opened once: book, ledger, vault, pool, paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from ipaddress import IPv4Network
from pathlib import Path

from ..errors import ConfigError
from ..fleet import Fleet, load_book
from ..ledger import Ledger
from ..secrets import Vault
from ..settings import Settings
from .pool import check_overlaps, parse_pool
from .spokes import site_subnets


@dataclass(frozen=True)
class Context:
    settings: Settings
    fleet: Fleet
    ledger: Ledger
    vault: Vault
    pool: IPv4Network
    now: datetime

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


def open_context(settings: Settings, now: datetime | None = None) -> Context:
    fleet = load_book(settings.book)
    pool = parse_pool(settings.vpn_pool)
    check_overlaps(pool, site_subnets(fleet))
    return Context(
        settings=settings,
        fleet=fleet,
        ledger=Ledger(settings.ledger),
        vault=Vault.from_settings(settings.secret_key_file),
        pool=pool,
        now=now or datetime.now(UTC),
    )
