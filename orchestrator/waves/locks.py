"""Ledger locks of a run: the wave and each of its hosts, so two runs never touch the same
host at once (also across machines on one PostgreSQL ledger). A lock whose holder was a
process on this machine that no longer exists (kill -9) is stale and taken over."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import timedelta

from ..errors import RefusedError
from ..ledger import Ledger

LOCK_TTL = timedelta(hours=12)


def holder(wave_id: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:wave-{wave_id}"


def holder_alive(name: str) -> bool:
    parts = name.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True  # another machine: trust the lock's TTL
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_holder(ledger: Ledger, name: str) -> str | None:
    """Who holds ``name`` now, if that holder is alive (None: free or stale)."""
    held = ledger.lock_holder(name)
    return held if held and holder_alive(held) else None


class Locks:
    def __init__(self, ledger: Ledger, wave_id: int, hostnames: Iterable[str]) -> None:
        self.ledger, self.holder = ledger, holder(wave_id)
        self.names = [f"wave:{wave_id}"] + [f"host:{h}" for h in hostnames]
        self.taken: list[str] = []

    def acquire(self) -> None:
        for name in self.names:
            held = self.ledger.acquire_lock(name, self.holder, LOCK_TTL)
            if held is not None and not holder_alive(held):
                self.ledger.release_lock(name, held)
                held = self.ledger.acquire_lock(name, self.holder, LOCK_TTL)
            if held is not None:
                self.release()
                raise RefusedError(f"{name} is locked by another run ({held}); "
                                   "two waves never touch the same host at once")
            self.taken.append(name)

    def release(self) -> None:
        for name in self.taken:
            self.ledger.release_lock(name, self.holder)
        self.taken = []
