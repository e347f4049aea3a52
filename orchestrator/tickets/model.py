"""What pbxops knows of a ticket system: tickets and their transactions, as frozen values
(the adapter turns RT's JSON into these; nothing else sees RT's shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

INCIDENT_FIELD = "pbxops incident"  # ticket custom field: the idempotency key INC-000042
CAUSE_FIELD = "pbxops cause"  # ticket custom field: the cause set when resolving


class OutboxAction(StrEnum):
    """What pbxops does in the ticket system for an incident, each at most once."""

    CREATE = "create"  # the ticket exists, in the customer's queue, due at the deadline
    ACK = "ack"  # a new ticket is taken into work (status open)
    RESOLVE = "resolve"  # resolved, with the cause


ORDER = (OutboxAction.CREATE, OutboxAction.ACK, OutboxAction.RESOLVE)

CLOSED = frozenset({"resolved", "rejected", "deleted"})


@dataclass(frozen=True)
class Ticket:
    id: int
    queue: str
    subject: str
    status: str
    created: datetime
    requestors: tuple[str, ...] = ()
    owner: str | None = None  # None: nobody
    incident: str | None = None  # the INCIDENT_FIELD value
    cause: str | None = None  # the CAUSE_FIELD value
    due: datetime | None = None


@dataclass(frozen=True)
class Txn:
    """One transaction in a ticket's history."""

    id: int
    type: str  # Create, Correspond, Comment, Status, Set, Take, Give, Steal, EmailRecord, ...
    creator: str  # user name (the requestor's e-mail address for a mail)
    created: datetime
    field: str = ""
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class NewTicket:
    queue: str
    subject: str
    text: str
    requestors: tuple[str, ...]
    due: datetime
    incident: str  # INC-000042


class TicketSystem(Protocol):
    """The operations sync needs; ``adapter.RtTickets`` is the implementation."""

    user: str

    def find_incident(self, key: str) -> int | None: ...
    def create(self, new: NewTicket) -> int: ...
    def ensure_queue(self, name: str) -> None: ...
    def ticket(self, ticket_id: int) -> Ticket: ...
    def update(
        self,
        ticket_id: int,
        *,
        queue: str | None = None,
        due: datetime | None = None,
        status: str | None = None,
        incident: str | None = None,
        cause: str | None = None,
    ) -> None: ...
    def unlinked(self) -> list[Ticket]: ...
    def history(self, ticket_id: int, after: int) -> list[Txn]: ...
