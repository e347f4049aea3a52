"""A real Request Tracker for the ticket tests (one per session), a relay that hands mail
to rt-mailgate, a sink for pbxops's own notification mail, and the pbxops environment
pointing at them with a fresh ledger, secret key and RT names per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from orchestrator.secrets import Redacted
from orchestrator.tickets.adapter import RtTickets
from tests.conftest import DEMO_BOOK, Inbox, _free_port
from tests.rtserver import MailgateRelay, RtServer, rt_server


@pytest.fixture(scope="session")
def rt() -> Iterator[RtServer]:
    with rt_server() as server:
        yield server


@dataclass
class TicketEnv:
    env: dict[str, str]
    rt: RtServer
    relay_port: int
    relay: MailgateRelay
    inbox: Inbox
    triage: str
    instance: str
    ledger_url: str

    def tech(self) -> RtTickets:
        """RT as a technician works in it (through the same REST2 API, user ``tech``)."""
        return RtTickets(self.rt.url, self.rt.tech_user, Redacted(self.rt.tech_password))

    def api(self) -> RtTickets:
        return RtTickets(self.rt.url, self.rt.api_user, Redacted(self.rt.api_password))


@pytest.fixture
def ticket_env(rt: RtServer, tmp_path: Path) -> Iterator[TicketEnv]:
    tag = secrets.token_hex(4)
    triage = f"triage-{tag}"
    RtTickets(rt.url, rt.api_user, Redacted(rt.api_password)).ensure_queue(triage)
    relay = MailgateRelay(rt.url, triage)
    relay_port, sink_port = _free_port(), _free_port()
    inbox = Inbox()
    relay_ctl = Controller(relay, hostname="127.0.0.1", port=relay_port)
    sink_ctl = Controller(inbox, hostname="127.0.0.1", port=sink_port)
    relay_ctl.start()
    sink_ctl.start()
    ledger_url = f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}"
    env = {
        "PBXOPS_BOOK": str(DEMO_BOOK),
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_LEDGER_URL": ledger_url,
        "PBXOPS_SECRET_KEY": Fernet.generate_key().decode(),
        "PBXOPS_SMTP_PORT": str(sink_port),
        "PBXOPS_TICKET_URL": rt.url,
        "PBXOPS_TICKET_USER": rt.api_user,
        "PBXOPS_TICKET_TRIAGE_QUEUE": triage,
        "PBXOPS_TICKET_INSTANCE": f"t{tag}",
        "PBXOPS_CONFIG": str(tmp_path / "pbxops.yml"),
    }
    (tmp_path / "pbxops.yml").write_text("{}\n")
    try:
        yield TicketEnv(env, rt, relay_port, relay, inbox, triage, f"t{tag}", ledger_url)
    finally:
        relay_ctl.stop()
        sink_ctl.stop()
