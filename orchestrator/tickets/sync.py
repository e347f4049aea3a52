"""One ticket sync: level-triggered, idempotent, safe to kill at any point.

1. **reconcile** — from the incidents as recorded, the outbox rows they need: an open
   incident without a ticket needs ``create``; an incident with a ticket (or a ``create``
   row) that is acknowledged needs ``ack``, resolved needs ``resolve``. Rows are unique
   per (incident, action), so a crash between an incident command and its enqueue is
   repaired here, and enqueuing again writes nothing.
2. **intake** — tickets in RT without an incident (mail through rt-mailgate, or moved out
   of triage by a person): in a customer's queue, or in triage from a sender the book
   matches, they open the incident with that customer's SLA terms, its clock started at
   the ticket's creation (the mail's arrival); the incident, its link and its ``create``
   row are one ledger transaction. Unknown senders stay in triage, reported.
3. **drain** — each pending outbox row, oldest first, checked against RT before acting:
   ``create`` first looks the ticket up by its incident key (custom field
   ``pbxops incident``) and creates one only if none exists, so a sync killed after RT
   created the ticket and before the ledger linked it links that ticket next time;
   ``ack``/``resolve`` change a ticket only if it is not there yet. The first RT failure
   stops the drain; the row keeps its error for the next sync.
4. **pull** — RT's transactions newer than each link's cursor, oldest first: a staff reply
   or a new owner acknowledges the incident (at that transaction's time), a status change
   to resolved resolves it with the ticket's ``pbxops cause``; each advances the cursor
   with the action it recorded, in one transaction. Transactions by pbxops's own RT user
   are its own echo and only advance the cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..errors import PbxopsError, TicketSystemError
from ..fleet import Fleet
from ..ledger import ActionRecord, Ledger
from ..ledger import sla as incidents_store
from ..ledger import tickets as store
from ..ledger.sla import Incident
from ..sla import incidents as incidents_mod
from ..sla import notify
from . import intake
from .model import CLOSED, INCIDENT_FIELD, ORDER, NewTicket, OutboxAction, Ticket, TicketSystem, Txn

ACTOR = "pbxops tickets sync"
_OWNER_TYPES = {"Take", "Give", "Steal", "Untake"}
_SILENT_TYPES = {"Create", "EmailRecord", "CommentEmailRecord", "AddWatcher", "DelWatcher"}


@dataclass
class SyncOutcome:
    created: list[str] = field(default_factory=list)  # "INC-000003 -> #7"
    updated: list[str] = field(default_factory=list)  # "INC-000003 ack -> #7"
    opened: list[str] = field(default_factory=list)  # incidents opened from tickets
    acked: list[str] = field(default_factory=list)  # acknowledged from RT
    resolved: list[str] = field(default_factory=list)  # resolved from RT
    triage: list[tuple[int, str, str]] = field(default_factory=list)  # ticket, sender, subject
    waiting: list[store.OutboxEntry] = field(default_factory=list)
    mail_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # outbox rows skipped, with the reason
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.opened or self.acked or self.resolved)


@dataclass(frozen=True)
class Sync:
    fleet: Fleet
    ledger: Ledger
    rt: TicketSystem
    triage_queue: str
    now: Callable[[], datetime]
    mailer: notify.Mailer | None = None
    instance: str = "pbxops"  # this ledger's name in RT's incident keys
    keep_lock: Callable[[], bool] | None = None  # renews the sync lock; False: it is lost

    def _still_mine(self) -> None:
        """Before each change to RT or the ledger: renew the sync lock; a sync that lost
        it (too slow, taken over) stops before another one's work is done twice."""
        if self.keep_lock is not None and not self.keep_lock():
            raise TicketSystemError(
                "this ticket sync lost its ledger lock (it ran too long or was taken over); "
                "it stopped, what is left waits for the next sync"
            )

    def key(self, inc: Incident) -> str:
        """The incident's key in RT (custom field ``pbxops incident``): the instance names
        the ledger, so two pbxops installations sharing an RT never take each other's."""
        return f"{self.instance}/{inc.ticket}"

    def run(self) -> SyncOutcome:
        out = SyncOutcome()
        reconcile(self.ledger)
        try:
            self.intake(out)
            self.drain(out)
            self.pull(out)
        except TicketSystemError as exc:
            out.error = str(exc)
        out.waiting = store.pending(self.ledger)
        out.triage = [(t, s, subj) for t, (s, subj) in store.triaged(self.ledger).items()]
        return out

    # -- intake -------------------------------------------------------------------------

    def intake(self, out: SyncOutcome) -> None:
        customers = {c.id for c in self.fleet.customers}
        for ticket in self.rt.unlinked():
            self._still_mine()
            if store.link_of_ticket(self.ledger, ticket.id) is not None:
                continue  # its incident exists; the drain sets the ticket's fields
            if ticket.queue in customers:
                customer: str | None = ticket.queue
            elif ticket.queue == self.triage_queue:
                sender = ticket.requestors[0] if ticket.requestors else ""
                customer = intake.match(self.fleet.customers, sender)
            else:
                continue  # a queue pbxops does not manage
            if customer is None:
                self._triage(ticket)
                continue
            out.opened.append(self._open(ticket, customer, out))

    def _triage(self, ticket: Ticket) -> None:
        sender = ticket.requestors[0] if ticket.requestors else "(no sender)"
        store.record_triage(self.ledger, ticket.id, sender, intake.title(ticket.subject), self.now())

    def _open(self, ticket: Ticket, customer: str, out: SyncOutcome) -> str:
        def link(s: Session, inc: Incident) -> None:
            assert inc.id is not None
            store.add_link_in(s, inc.id, ticket.id, ticket.queue)
            store.enqueue_in(s, inc.id, OutboxAction.CREATE)

        sender = ticket.requestors[0] if ticket.requestors else "(no sender)"
        opened = incidents_mod.open_incident(
            self.fleet,
            self.ledger,
            self.mailer,
            customer_id=customer,
            title=intake.title(ticket.subject),
            actor=sender,
            now=ticket.created,
            source="mail",
            within=link,
        )
        store.untriage(self.ledger, ticket.id)
        if opened.mail_error:
            out.mail_errors.append(f"{opened.incident.ticket}: {opened.mail_error}")
        return f"{opened.incident.ticket} <- #{ticket.id} ({customer}, from {sender})"

    # -- drain --------------------------------------------------------------------------

    def drain(self, out: SyncOutcome, incident_id: int | None = None) -> None:
        skipped: set[int] = set()  # incidents whose earlier row failed: their later rows wait
        for entry in _ordered(store.pending(self.ledger, incident_id)):
            if entry.incident_id in skipped:
                continue
            self._still_mine()
            inc = incidents_store.incident(self.ledger, entry.incident_id)
            if inc is None:  # cannot happen through pbxops; never block the others
                store.mark_done(self.ledger, entry.id)
                continue
            try:
                note = self._act(OutboxAction(entry.action), inc)
            except TicketSystemError as exc:
                store.mark_failed(self.ledger, entry.id, str(exc))
                raise
            except PbxopsError as exc:  # e.g. the customer left the book: this row only
                store.mark_failed(self.ledger, entry.id, f"{inc.ticket}: {exc}")
                out.failed.append(f"{inc.ticket} {entry.action}: {exc}")
                skipped.add(entry.incident_id)
                continue
            store.mark_done(self.ledger, entry.id, _action(inc, f"ticket.{entry.action}", note))
            (out.created if entry.action == OutboxAction.CREATE else out.updated).append(note)

    def _act(self, action: OutboxAction, inc: Incident) -> str:
        if action is OutboxAction.CREATE:
            return self._create(inc)
        link = store.link_of_incident(self.ledger, _id(inc))
        if link is None:
            raise TicketSystemError(f"{inc.ticket}: its ticket is not created yet")
        ticket = self.rt.ticket(link.ticket_id)
        if action is OutboxAction.ACK and ticket.status == "new":
            self.rt.update(ticket.id, status="open")
        if action is OutboxAction.RESOLVE and ticket.status not in CLOSED:
            self.rt.update(ticket.id, status="resolved", cause=inc.cause)
        return f"{inc.ticket} {action} -> #{ticket.id}"

    def _create(self, inc: Incident) -> str:
        link = store.link_of_incident(self.ledger, _id(inc))
        self.rt.ensure_queue(inc.customer_id)
        if link is not None:
            ticket = self.rt.ticket(link.ticket_id)
            if (ticket.queue, ticket.incident, ticket.due) != (
                inc.customer_id, self.key(inc), inc.deadline.replace(microsecond=0)
            ):
                self.rt.update(
                    ticket.id, queue=inc.customer_id, due=inc.deadline, incident=self.key(inc)
                )
            return f"{inc.ticket} -> #{ticket.id} (mail)"
        found = self.rt.find_incident(self.key(inc))
        ticket_id = found if found is not None else self.rt.create(self._new(inc))
        if not store.record_link(
            self.ledger,
            store.Link(_id(inc), ticket_id, inc.customer_id),
            _action(inc, "ticket.link", f"{inc.ticket} is ticket #{ticket_id}"),
        ):
            mine = store.link_of_incident(self.ledger, _id(inc))
            if mine is None or mine.ticket_id != ticket_id:
                raise TicketSystemError(self._not_linked(inc, ticket_id))
        return f"{inc.ticket} -> #{ticket_id}" + (" (found)" if found is not None else "")

    def _not_linked(self, inc: Incident, ticket_id: int) -> str:
        """Why the ledger refused the link (another sync linked one side meanwhile)."""
        mine = store.link_of_incident(self.ledger, _id(inc))
        if mine is not None and mine.ticket_id != ticket_id:
            return (
                f"{inc.ticket} got a second ticket in RT: #{ticket_id} (it is linked to "
                f"#{mine.ticket_id}); resolve or delete #{ticket_id} in RT"
            )
        other = store.link_of_ticket(self.ledger, ticket_id)
        held = f"another incident (ledger id {other.incident_id})" if other else "another incident"
        return (
            f"{inc.ticket}: RT ticket #{ticket_id} carries its key {self.key(inc)!r} but is "
            f"linked to {held}; fix the ticket's field {INCIDENT_FIELD!r} in RT"
        )

    def _new(self, inc: Incident) -> NewTicket:
        customer = self.fleet.customer(inc.customer_id)
        return NewTicket(
            queue=inc.customer_id,
            subject=notify.subject(inc),
            text=notify.body(inc, customer),
            requestors=tuple(c.email for c in customer.contacts),
            due=inc.deadline,
            incident=self.key(inc),
        )

    # -- pull ---------------------------------------------------------------------------

    def pull(self, out: SyncOutcome) -> None:
        for link in store.links(self.ledger):
            inc = incidents_store.incident(self.ledger, link.incident_id)
            if inc is None or inc.resolved_at is not None:
                continue
            self._still_mine()
            ticket: Ticket | None = None
            for txn in self.rt.history(link.ticket_id, link.last_txn):
                if ticket is None:
                    ticket = self.rt.ticket(link.ticket_id)
                self._apply(link, txn, ticket, out)

    def _apply(self, link: store.Link, txn: Txn, ticket: Ticket, out: SyncOutcome) -> None:
        inc = incidents_store.incident(self.ledger, link.incident_id)
        assert inc is not None
        rec: ActionRecord | None = None
        mine = txn.creator in (self.rt.user, "RT_System") or txn.type in _SILENT_TYPES
        if not mine and inc.resolved_at is None:
            rec = self._effect(inc, txn, ticket, out)
        store.advance(self.ledger, link.incident_id, txn.id, rec)

    def _effect(
        self, inc: Incident, txn: Txn, ticket: Ticket, out: SyncOutcome
    ) -> ActionRecord | None:
        who = f"{txn.creator} (RT)"
        if txn.type == "Correspond":
            if txn.creator.lower() in ticket.requestors:
                return _action(inc, "ticket.customer-reply", f"#{ticket.id}: reply from {txn.creator}")
            self._ack(inc, who, txn.created, out)
            return _action(inc, "ticket.reply", f"#{ticket.id}: reply by {txn.creator}")
        if txn.type in _OWNER_TYPES or (txn.type == "Set" and txn.field == "Owner"):
            self._ack(inc, who, txn.created, out)
            return _action(inc, "ticket.owner", f"#{ticket.id}: owner set by {txn.creator}")
        if txn.type == "Status" and txn.new == "resolved":
            self._resolve(inc, who, txn.created, ticket, out)
        return None

    def _ack(self, inc: Incident, who: str, at: datetime, out: SyncOutcome) -> None:
        if inc.acked_at is not None:
            return
        incidents_mod.acknowledge(self.ledger, _id(inc), who, max(at, inc.opened_at))
        store.enqueue(self.ledger, _id(inc), OutboxAction.ACK)
        store.mark_done_action(self.ledger, _id(inc), OutboxAction.ACK)
        out.acked.append(f"{inc.ticket} by {who}")

    def _resolve(
        self, inc: Incident, who: str, at: datetime, ticket: Ticket, out: SyncOutcome
    ) -> None:
        cause = ticket.cause if ticket.cause in incidents_mod.CAUSES else "unknown"
        try:
            done = incidents_mod.resolve(
                self.fleet, self.ledger, _id(inc), who, max(at, inc.opened_at), cause
            )
        except PbxopsError as exc:  # e.g. the customer left the book: said, not fatal
            out.mail_errors.append(f"{inc.ticket}: not resolved from #{ticket.id}: {exc}")
            return
        for action in (OutboxAction.ACK, OutboxAction.RESOLVE):
            store.enqueue(self.ledger, _id(inc), action)
            store.mark_done_action(self.ledger, _id(inc), action)
        out.resolved.append(f"{done.ticket} ({cause}) by {who}")


def reconcile(ledger: Ledger) -> None:
    """Outbox rows for what the incidents need in RT (see the module's step 1)."""
    present = store.actions_of(ledger)
    linked = {link.incident_id for link in store.links(ledger)}
    for incident_id in store.unlinked_open_incidents(ledger):
        if OutboxAction.CREATE not in present.get(incident_id, set()):
            store.enqueue(ledger, incident_id, OutboxAction.CREATE)
            present.setdefault(incident_id, set()).add(OutboxAction.CREATE)
    for incident_id in linked | set(present):
        inc = incidents_store.incident(ledger, incident_id)
        if inc is None:
            continue
        if inc.acked_at is not None:
            store.enqueue(ledger, incident_id, OutboxAction.ACK)
        if inc.resolved_at is not None:
            store.enqueue(ledger, incident_id, OutboxAction.RESOLVE)


def _ordered(entries: list[store.OutboxEntry]) -> list[store.OutboxEntry]:
    """Per incident create, ack, resolve; incidents in the order they were enqueued."""
    first: dict[int, int] = {}
    for e in entries:
        first.setdefault(e.incident_id, e.id)
    return sorted(entries, key=lambda e: (first[e.incident_id], ORDER.index(OutboxAction(e.action))))


def _id(inc: Incident) -> int:
    assert inc.id is not None
    return inc.id


def _action(inc: Incident, kind: str, summary: str) -> ActionRecord:
    return ActionRecord(
        kind=kind,
        customer_id=inc.customer_id,
        contract_id=inc.contract_id,
        summary=summary,
        actor=ACTOR,
        host=inc.host,
        detail={"incident": inc.id},
    )
