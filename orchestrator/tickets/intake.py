"""Which customer a mail is from: PURE (the book's contacts in, a customer id out).

A sender matches a customer when it is one of the customer's contacts (exact address,
case-insensitive), else when its domain is the domain of the contacts of exactly one
customer. A sender two customers share, or nobody's, matches none: its ticket waits in
the triage queue for a person (reported by every sync), never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr

from ..model import Customer


def address(sender: str) -> str:
    return parseaddr(sender)[1].strip().lower()


def _domain(addr: str) -> str:
    return addr.rpartition("@")[2]


def match(customers: Sequence[Customer], sender: str) -> str | None:
    """The id of the customer ``sender`` belongs to, or None (unknown or ambiguous)."""
    addr = address(sender)
    if "@" not in addr:
        return None
    exact = {c.id for c in customers if addr in {k.email.lower() for k in c.contacts}}
    if exact:
        return exact.pop() if len(exact) == 1 else None
    domain = _domain(addr)
    by_domain = {
        c.id for c in customers if domain in {_domain(k.email.lower()) for k in c.contacts}
    }
    return by_domain.pop() if len(by_domain) == 1 else None


def title(subject: str, limit: int = 300) -> str:
    """A ticket's subject as an incident title: one printable line, at most ``limit``."""
    text = "".join(c if c.isprintable() else " " for c in subject).strip()
    return (text or "(mail without subject)")[:limit]
