"""The ledger's encrypted values, one of each kind: what ``Vault.check`` tries the key on
before anything new is encrypted (phone credentials, access keys; the RT password file beside it)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from .access import AccessKeyRow
from .db import Ledger
from .phones import PhoneCredential


def samples(
    ledger: Ledger, files: Iterable[tuple[str, Path]] = ()
) -> list[tuple[str, str]]:
    """``(what, token)`` of the oldest stored secret of each kind; empty for a new ledger.
    ``files``: ``(what, path)`` of secrets kept encrypted beside the ledger (the RT
    password); each one present is a sample too."""
    found: list[tuple[str, str]] = []
    for what, path in files:
        try:
            token = path.read_text().strip()
        except OSError:  # absent (or unreadable: its own command says so)
            continue
        if token:
            found.append((f"{what} in {path}", token))
    with ledger.session() as s:
        phone = s.scalars(select(PhoneCredential).order_by(PhoneCredential.id).limit(1)).first()
        if phone is not None:
            found.append((f"SIP password of {phone.hostname} extension {phone.extension}",
                          phone.secret))
        key = s.scalars(select(AccessKeyRow).order_by(AccessKeyRow.created_at).limit(1)).first()
        if key is not None:
            found.append((f"access key {key.name!r}", key.secret))
    return found
