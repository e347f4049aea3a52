"""Request Tracker 5 through its REST2 API: the ONLY module that imports ``rt``.

Every RT failure (unreachable, too slow, refused, unexpected answer) becomes one
``TicketSystemError`` naming the RT URL and what was being done; credentials never appear
in a message (the URL carries none; the password is a ``Redacted`` until the HTTP client
gets it). Times go to RT as ``YYYY-MM-DD HH:MM:SS`` in UTC, which RT reads in the API
user's timezone: ``create`` reads the due date back and refuses an RT whose API user is
not on UTC (the deadline would be off by the offset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx2
import rt.exceptions
import rt.rest2

from ..errors import TicketSystemError
from ..secrets import Redacted
from .model import CAUSE_FIELD, INCIDENT_FIELD, NewTicket, Ticket, Txn

T = TypeVar("T")
NOBODY = "Nobody"
_HISTORY_FIELDS = "Type,Field,OldValue,NewValue,Created,Creator"


def rest_url(base: str) -> str:
    """``http://rt.example/`` (RT's web base URL) -> ``http://rt.example/REST/2.0/``."""
    base = base.rstrip("/")
    return base if base.endswith("/REST/2.0") else f"{base}/REST/2.0/"


def _time(text: str | None) -> datetime | None:
    if not text or text.startswith("1970-01-01"):
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _rt_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cf(data: dict[str, Any], name: str) -> str | None:
    for cf in data.get("CustomFields") or []:
        if cf.get("name") == name and cf.get("values"):
            return str(cf["values"][0])
    return None


def _ticket(data: dict[str, Any], queue: str) -> Ticket:
    owner = (data.get("Owner") or {}).get("id")
    return Ticket(
        id=int(data["id"]),
        queue=queue,
        subject=str(data.get("Subject") or ""),
        status=str(data.get("Status") or ""),
        created=_time(data.get("Created")) or datetime.now(UTC),
        requestors=tuple(str(r.get("id", "")).lower() for r in data.get("Requestor") or []),
        owner=None if owner in (None, NOBODY) else str(owner),
        incident=_cf(data, INCIDENT_FIELD),
        cause=_cf(data, CAUSE_FIELD),
        due=_time(data.get("Due")),
    )


def _txn(item: dict[str, Any]) -> Txn:
    creator = item.get("Creator") or {}
    return Txn(
        id=int(item["id"]),
        type=str(item.get("Type") or ""),
        creator=str(creator.get("Name") or creator.get("id") or ""),
        created=_time(item.get("Created")) or datetime.now(UTC),
        field=str(item.get("Field") or ""),
        old=str(item.get("OldValue") or ""),
        new=str(item.get("NewValue") or ""),
    )


class RtTickets:
    """One RT instance, one API user (basic auth with a password, or an auth token)."""

    def __init__(
        self, url: str, user: str, secret: Redacted, timeout: float = 10.0
    ) -> None:
        self.url = rest_url(url)
        self.user = user
        auth = httpx2.BasicAuth(user, secret.reveal()) if user else None
        try:
            self._rt = rt.rest2.Rt(
                self.url,
                http_auth=auth,
                token=None if user else secret.reveal(),
                http_timeout=max(1, round(timeout)),
            )
        except ValueError as exc:
            raise TicketSystemError(f"ticket_url {url!r}: {exc}") from None
        self._queues: set[str] = set()
        self._queue_names: dict[str, str] = {}

    @contextmanager
    def _doing(self, what: str) -> Iterator[None]:
        try:
            yield
        except rt.exceptions.AuthorizationError:
            raise TicketSystemError(
                f"RT at {self.url} refused user {self.user or '(token)'} while {what}: "
                "check `pbxops tickets login` and the user's rights"
            ) from None
        except (
            rt.exceptions.RtError, httpx2.HTTPError, OSError, ValueError, KeyError, TypeError,
            AttributeError,  # an answer of an unexpected shape (a list for a dict ...)
        ) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TicketSystemError(f"RT at {self.url}: {what} failed: {reason[:200]}") from None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        with self._doing(what):
            return fn()
        raise AssertionError("unreachable")  # pragma: no cover

    def _search(self, query: str) -> list[dict[str, Any]]:
        """The matching tickets. The rt library raises a bare NotFoundError (no message)
        for an empty result and NotFoundError('No such resource found.') for an HTTP 404:
        only the first means "none"; a 404 (wrong URL, proxy) is a failure, else a sync
        would take "not found" for "no ticket yet" and create a duplicate."""
        try:
            return list(self._rt.search(raw_query=query, order="id"))
        except rt.exceptions.NotFoundError as exc:
            if exc.args:
                raise
            return []

    def check_queue(self, name: str) -> None:
        """The credentials work and ``name`` (the triage queue) exists."""
        with self._doing(f"reading queue {name}"):
            try:
                self._rt.get_queue(name)
            except rt.exceptions.NotFoundError:
                raise TicketSystemError(
                    f"RT at {self.url} has no queue {name!r}: apply scripts/rt/pbxops-initialdata "
                    "(docs/sla.md)"
                ) from None

    def find_incident(self, key: str) -> int | None:
        query = f"'CF.{{{INCIDENT_FIELD}}}' = '{key}'"
        with self._doing(f"searching the ticket of {key}"):
            return min((int(t["id"]) for t in self._search(query)), default=None)

    def ensure_queue(self, name: str) -> None:
        if name in self._queues:
            return
        with self._doing(f"finding queue {name}"):
            try:
                self._rt.get_queue(name)
            except rt.exceptions.NotFoundError:
                self._rt.create_queue(name, Description=f"pbxops customer {name}")
        self._queues.add(name)

    def create(self, new: NewTicket) -> int:
        ticket_id = self._call(
            f"creating the ticket of {new.incident}",
            lambda: self._rt.create_ticket(
                new.queue,
                subject=new.subject,
                content=new.text,
                Requestor=list(new.requestors),
                Due=_rt_time(new.due),
                CustomFields={INCIDENT_FIELD: new.incident},
            ),
        )
        with self._doing(f"creating the ticket of {new.incident}"):
            ticket_id = int(ticket_id)
        self._check_created(ticket_id, new)
        return ticket_id

    def _check_created(self, ticket_id: int, new: NewTicket) -> None:
        """RT stored what pbxops relies on: the incident key (RT drops a custom field it
        may not set without a word; a later sync would not find the ticket by its key and
        create another) and the due date in UTC."""
        ticket = self.ticket(ticket_id)
        if ticket.incident != new.incident:
            raise TicketSystemError(
                f"RT at {self.url} created ticket #{ticket_id} without its custom field "
                f"{INCIDENT_FIELD!r} = {new.incident!r}: give RT user {self.user or '(token)'} "
                f"the rights SeeCustomField and ModifyCustomField on it (queue {new.queue}), "
                f"then resolve #{ticket_id} in RT"
            )
        got, due = ticket.due, new.due
        if got != due.astimezone(UTC).replace(microsecond=0):
            raise TicketSystemError(
                f"RT at {self.url} stored ticket #{ticket_id}'s due date as {got} for "
                f"{due.astimezone(UTC):%Y-%m-%d %H:%M}Z: set RT user {self.user}'s timezone "
                "to UTC"
            )

    def ticket(self, ticket_id: int) -> Ticket:
        with self._doing(f"reading ticket #{ticket_id}"):
            data = self._rt.get_ticket(ticket_id)
            return _ticket(data, self._queue_of(data))
        raise AssertionError("unreachable")  # pragma: no cover

    def _queue_of(self, data: dict[str, Any]) -> str:
        """The ticket's queue by name (RT answers with its id, sometimes with its name)."""
        queue = data.get("Queue") or {}
        qid = str(queue.get("id", ""))
        if queue.get("Name"):
            self._queue_names[qid] = str(queue["Name"])
        if qid not in self._queue_names:
            found = self._call(f"reading queue {qid}", lambda: self._rt.get_queue(qid))
            self._queue_names[qid] = str(found.get("Name") or qid)
        return self._queue_names[qid]

    def update(
        self,
        ticket_id: int,
        *,
        queue: str | None = None,
        due: datetime | None = None,
        status: str | None = None,
        incident: str | None = None,
        cause: str | None = None,
    ) -> None:
        """One request: RT applies every field of it or reports what it refused."""
        fields: dict[str, Any] = {}
        if queue is not None:
            fields["Queue"] = queue
        if due is not None:
            fields["Due"] = _rt_time(due)
        if status is not None:
            fields["Status"] = status
        cfs = {k: v for k, v in ((INCIDENT_FIELD, incident), (CAUSE_FIELD, cause)) if v}
        if cfs:
            fields["CustomFields"] = cfs
        if fields:
            self._call(
                f"updating ticket #{ticket_id}",
                lambda: self._rt.edit_ticket(ticket_id, **fields),
            )

    def unlinked(self) -> list[Ticket]:
        """Tickets without an incident that are not closed (new mail, triage)."""
        query = (
            f"'CF.{{{INCIDENT_FIELD}}}' IS NULL AND Status != 'resolved' "
            "AND Status != 'rejected' AND Status != 'deleted'"
        )
        with self._doing("searching tickets without an incident"):
            return [_ticket(t, self._queue_of(t)) for t in self._search(query)]
        raise AssertionError("unreachable")  # pragma: no cover

    def history(self, ticket_id: int, after: int) -> list[Txn]:
        """The ticket's transactions newer than ``after``, oldest first."""
        items: list[Txn] = []
        page = 1
        while True:
            data = self._call(
                f"reading ticket #{ticket_id}'s history",
                lambda p=page: self._history_page(ticket_id, p),  # type: ignore[misc]
            )
            with self._doing(f"reading ticket #{ticket_id}'s history"):
                items.extend(_txn(i) for i in data.get("items", []))
                if page >= int(data.get("pages") or 1):
                    break
            page += 1
        return sorted((t for t in items if t.id > after), key=lambda t: t.id)

    def _history_page(self, ticket_id: int, page: int) -> dict[str, Any]:
        response = self._rt.session.get(
            f"{self.url}ticket/{ticket_id}/history",
            params={
                "fields": _HISTORY_FIELDS,
                "fields[Creator]": "Name",
                "page": page,
                "per_page": 100,
            },
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data
