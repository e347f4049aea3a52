"""How the RT adapter reads answers it did not expect: an HTTP 404 on a search, a
malformed ticket id, a ticket created without its incident key. These answers come from
a small HTTP server on loopback that plays the faulty RT (a real RT does not give them on
demand: a missing custom-field right needs an RT set up with that right withheld, see
docs/sla.md); everything RT really does is tested against a real RT in tests/tickets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orchestrator.errors import TicketSystemError
from orchestrator.secrets import Redacted
from orchestrator.tickets.adapter import RtTickets
from orchestrator.tickets.model import INCIDENT_FIELD, NewTicket

Answer = Callable[[str, str], tuple[int, Any]]  # (method, path) -> (status, JSON body)


@pytest.fixture
def faulty_rt() -> Iterator[Callable[[Answer], RtTickets]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> RtTickets:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body = answer(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return RtTickets(f"http://127.0.0.1:{server.server_port}/", "pbxops", Redacted("pw"), 5)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


DUE = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
NEW = NewTicket(queue="clinic-nord", subject="s", text="t", requestors=("a@b.example",),
                due=DUE, incident="pbxops/INC-000001")


def test_a_404_on_the_incident_search_is_a_failure_not_no_ticket(faulty_rt: Any) -> None:
    rt = faulty_rt(lambda method, path: (404, {"message": "Not Found"}))
    with pytest.raises(TicketSystemError, match="searching the ticket of pbxops/INC-000001"):
        rt.find_incident("pbxops/INC-000001")


def test_an_empty_search_result_is_no_ticket(faulty_rt: Any) -> None:
    rt = faulty_rt(lambda method, path: (200, {"count": 0, "page": 1, "per_page": 20,
                                               "items": []}))
    assert rt.find_incident("pbxops/INC-000001") is None
    assert rt.unlinked() == []


def test_a_malformed_ticket_id_in_an_answer_is_a_ticket_system_error(faulty_rt: Any) -> None:
    search = {"count": 1, "page": 1, "pages": 1, "per_page": 20,
              "items": [{"id": "not-a-number", "Queue": {"id": "1", "Name": "q"}}]}
    rt = faulty_rt(lambda method, path: (200, search))
    with pytest.raises(TicketSystemError, match="searching the ticket of"):
        rt.find_incident("pbxops/INC-000001")
    with pytest.raises(TicketSystemError, match="searching tickets without an incident"):
        rt.unlinked()


def test_a_malformed_time_in_a_ticket_is_a_ticket_system_error(faulty_rt: Any) -> None:
    ticket = {"id": 7, "Queue": {"id": "1", "Name": "q"}, "Created": "yesterday"}
    rt = faulty_rt(lambda method, path: (200, ticket))
    with pytest.raises(TicketSystemError, match="reading ticket #7"):
        rt.ticket(7)


def _created(custom_fields: list[dict[str, Any]]) -> Answer:
    def answer(method: str, path: str) -> tuple[int, Any]:
        if method == "POST" and path.rstrip("/").endswith("/ticket"):
            return 201, {"id": 7, "type": "ticket"}
        return 200, {"id": 7, "Queue": {"id": "1", "Name": "clinic-nord"}, "Status": "new",
                     "Due": "2026-11-27T14:00:00Z", "Created": "2026-11-27T12:00:00Z",
                     "CustomFields": custom_fields}
    return answer


def test_a_ticket_created_without_its_incident_key_is_refused(faulty_rt: Any) -> None:
    """RT drops a custom field the API user may not set, without an error."""
    rt = faulty_rt(_created([]))
    with pytest.raises(TicketSystemError, match=r"#7 without its custom field .*ModifyCustomField"):
        rt.create(NEW)


def test_a_ticket_created_with_its_incident_key_is_accepted(faulty_rt: Any) -> None:
    rt = faulty_rt(_created([{"name": INCIDENT_FIELD, "values": [NEW.incident]}]))
    assert rt.create(NEW) == 7
