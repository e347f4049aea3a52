"""Settings-level entry points of the ticket link: one function per use case.

Without ``ticket_url`` nothing here runs: incidents stay in the ledger and mail, as before.
One sync at a time per ledger (a ledger lock; one left by a killed sync on this machine is
taken over at once, its process being gone).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import ConfigError, RefusedError, TicketSystemError
from ..fleet import load_book
from ..ledger import Ledger
from ..ledger import tickets as store
from ..settings import Settings
from ..sla.notify import Mailer
from . import credentials
from .adapter import RtTickets
from .sync import Sync, SyncOutcome, reconcile

LOCK = "tickets.sync"
LOCK_TTL = timedelta(minutes=15)


def configured(settings: Settings) -> bool:
    return bool(settings.ticket_url)


def connect(settings: Settings) -> RtTickets:
    if not configured(settings):
        raise ConfigError(
            "no ticket system configured: set ticket_url (and ticket_user) in the config "
            "file or PBXOPS_TICKET_URL, then `pbxops tickets login`"
        )
    return RtTickets(
        settings.ticket_url,
        settings.ticket_user,
        credentials.load(settings),
        settings.ticket_timeout,
    )


def login(settings: Settings, secret: str) -> Path:
    """Check the secret against RT (reads the triage queue), then store it encrypted."""
    if not configured(settings):
        connect(settings)  # the ConfigError saying what to set
    from ..secrets import Redacted

    rt = RtTickets(settings.ticket_url, settings.ticket_user, Redacted(secret), settings.ticket_timeout)
    rt.check_queue(settings.ticket_triage_queue)
    return credentials.store(settings, secret)


def _holder() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def _gone(holder: str) -> bool:
    """The holder is a process of this machine that no longer runs."""
    pid, _, host = holder.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def _locked(ledger: Ledger, wait: bool) -> Iterator[bool]:
    me = _holder()
    held = ledger.acquire_lock(LOCK, me, LOCK_TTL)
    if held is not None and _gone(held):
        ledger.release_lock(LOCK, held)
        held = ledger.acquire_lock(LOCK, me, LOCK_TTL)
    if held is not None and wait:
        raise RefusedError(f"another ticket sync is running ({held}); try again later")
    try:
        yield held is None
    finally:
        if held is None:
            ledger.release_lock(LOCK, me)


def _now() -> datetime:
    return datetime.now(UTC)


def _sync(settings: Settings, ledger: Ledger, mail: bool) -> Sync:
    me = _holder()
    return Sync(
        keep_lock=lambda: ledger.renew_lock(LOCK, me, LOCK_TTL),
        fleet=load_book(settings.book),
        ledger=ledger,
        rt=connect(settings),
        triage_queue=settings.ticket_triage_queue,
        now=_now,
        instance=settings.ticket_instance,
        mailer=Mailer(settings.smtp_host, settings.smtp_port, settings.ops_email) if mail else None,
    )


def sync(settings: Settings, mail: bool = True) -> SyncOutcome:
    ledger = Ledger(settings.ledger)
    with _locked(ledger, wait=True):
        return _sync(settings, ledger, mail).run()


@dataclass(frozen=True)
class Pushed:
    done: bool  # the ticket is up to date
    error: str | None = None  # why the action waits in the outbox


def push(settings: Settings, incident_id: int) -> Pushed | None:
    """After an incident command: bring its ticket up to date now if RT answers; else the
    action waits in the outbox for `pbxops tickets sync`. None: no ticket system."""
    if not configured(settings):
        return None
    ledger = Ledger(settings.ledger)
    reconcile(ledger)
    with _locked(ledger, wait=False) as mine:
        if not mine:
            return Pushed(False, "a ticket sync is running; it takes the change along")
        try:
            _sync(settings, ledger, mail=False).drain(SyncOutcome(), incident_id)
        except (TicketSystemError, ConfigError) as exc:
            return Pushed(False, str(exc))
    return Pushed(True)


@dataclass(frozen=True)
class Status:
    url: str
    links: int
    outbox: list[store.OutboxEntry]
    triage: dict[int, tuple[str, str]]


def status(settings: Settings) -> Status:
    ledger = Ledger(settings.ledger)
    return Status(
        settings.ticket_url or "(none)",
        len(store.links(ledger)),
        store.pending(ledger),
        store.triaged(ledger),
    )
