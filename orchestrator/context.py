"""One way in for every command: settings, actor, clock, book, ledger (and the vault).

Every use case (``app``, ``access``, ``phones``, ``sla``, ``health``) opens what it needs
through ``open_context``, so the same rules hold everywhere:

- **actor**: ``PBXOPS_ACTOR`` when set (the scheduler and scripts name who they act for),
  else ``SUDO_USER`` (the person behind ``sudo pbxops ...``), else the login name;
- **clock**: the system clock in UTC unless a caller (a test) passes its own;
- **book**: loaded on first use, once;
- **ledger**: opened on first use, once, without migrating an existing database (a schema
  that is behind or ahead is an error naming ``pbxops db upgrade``; only a new, empty
  SQLite ledger is created at the current schema); ``readonly=True`` contexts never
  create or change anything — a missing SQLite ledger reads as an empty one;
- **vault**: the secret key, checked against the secrets already in the ledger before
  anything is encrypted with it.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .fleet import Fleet, load_book
from .ledger import Ledger
from .ledger.sealed import samples
from .secrets import Vault
from .settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def actor_of(env: Mapping[str, str] | None = None) -> str:
    """Who acts, recorded in the ledger: PBXOPS_ACTOR > SUDO_USER > login name."""
    env = os.environ if env is None else env
    named = (env.get("PBXOPS_ACTOR") or "").strip() or (env.get("SUDO_USER") or "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): the uid says who
        return f"uid {os.getuid()}"


def sealed_files(settings: Settings) -> list[tuple[str, Path]]:
    """Secrets kept encrypted outside the ledger under the same key (``samples``)."""
    return [("RT password or token", settings.ticket_secret_file)]


def open_ledger(settings: Settings, *, readonly: bool = False) -> Ledger:
    return Ledger(settings.ledger, readonly=readonly)


@dataclass
class Context:
    """What a command works with; book, ledger and vault are opened on first use."""

    settings: Settings
    actor: str
    clock: Clock = system_clock
    readonly: bool = False
    _fleet: Fleet | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @property
    def fleet(self) -> Fleet:
        if self._fleet is None:
            self._fleet = load_book(self.settings.book)
        return self._fleet

    def reload_book(self) -> Fleet:
        self._fleet = None
        return self.fleet

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = open_ledger(self.settings, readonly=self.readonly)
        return self._ledger

    @property
    def vault(self) -> Vault:
        if self._vault is None:  # the key file first: a missing key opens no ledger
            vault = Vault.from_settings(self.settings.secret_key_file)
            vault.check(samples(self.ledger, sealed_files(self.settings)), self.ledger.safe_url)
            self._vault = vault
        return self._vault


def open_context(settings: Settings, *, clock: Clock | None = None, readonly: bool = False,
                 env: Mapping[str, str] | None = None) -> Context:
    return Context(settings, actor_of(env), clock or system_clock, readonly)
