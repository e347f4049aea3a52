"""The whole path against a real Request Tracker: customer mail (real SMTP, rt-mailgate)
-> ticket -> incident with the customer's deadline -> ack in pbxops -> resolve in RT ->
incident resolved with the cause -> SLA report; syncs that change nothing, kill -9 in the
middle of syncs, RT down, unknown senders, credentials at rest."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from orchestrator.ledger import Ledger
from orchestrator.ledger import sla as incidents_store
from orchestrator.ledger import tickets as links_store
from tests.conftest import REPO, _free_port
from tests.tickets.conftest import TicketEnv

PBXOPS = str(REPO / ".venv" / "bin" / "pbxops")


def run(te: TicketEnv, *args: str, stdin: str = "", check: bool = True, **env: str) -> Any:
    done = subprocess.run(
        [PBXOPS, *args],
        env={**os.environ, **te.env, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"pbxops {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def login(te: TicketEnv) -> None:
    run(te, "tickets", "login", "--password-stdin", stdin=te.rt.api_password + "\n")


def mail(te: TicketEnv, sender: str, subject: str, body: str = "Please help.") -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@provider.example"
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", te.relay_port, timeout=60) as smtp:
        smtp.send_message(msg)
    assert not te.relay.failures, te.relay.failures


def sync(te: TicketEnv) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run(te, "tickets", "sync", "--json").stdout)
    return out


def snapshot(te: TicketEnv) -> tuple[Any, ...]:
    """Everything sync could change: incidents, links, outbox, actions — and RT's tickets
    of this test's instance."""
    ledger = Ledger(te.ledger_url)
    incidents = incidents_store.incidents(ledger)
    keys = [f"{te.instance}/{i.ticket}" for i in incidents]
    rt_ids = [te.api().find_incident(k) for k in keys]
    return (
        incidents,
        links_store.links(ledger),
        links_store.outbox(ledger),
        len(ledger.actions()),
        rt_ids,
    )


def test_mail_to_ticket_to_incident_ack_resolve_in_rt_and_report(ticket_env: TicketEnv) -> None:
    te = ticket_env
    login(te)
    mail(te, "Anna Schmidt <anna@clinic-nord.example>", "All phones dead since 9:50")
    first = sync(te)
    assert len(first["opened"]) == 1 and "clinic-nord" in first["opened"][0], first
    assert first["error"] is None and first["waiting"] == []
    ledger = Ledger(te.ledger_url)
    [inc] = incidents_store.incidents(ledger)
    [link] = links_store.links(ledger)
    ticket = te.api().ticket(link.ticket_id)
    # the clock starts at the mail's arrival (the ticket's creation), platinum: 4 h 24x7
    assert inc.customer_id == "clinic-nord" and inc.source == "mail"
    assert inc.opened_at == ticket.created
    assert inc.deadline == ticket.created + timedelta(hours=4)
    assert inc.opened_by == "anna@clinic-nord.example"
    assert ticket.queue == "clinic-nord" and ticket.due == inc.deadline
    assert ticket.incident == f"{te.instance}/{inc.ticket}"
    # the on-duty technician and the customer got pbxops's notification
    assert any(inc.ticket in m.content.decode() for m in te.inbox.messages)

    acked = run(te, "incident", "ack", inc.ticket)
    assert "ticket up to date" in acked.stdout
    assert te.api().ticket(link.ticket_id).status == "open"

    # a technician resolves it in RT, choosing the cause there
    te.tech().update(link.ticket_id, status="resolved", cause="hardware")
    second = sync(te)
    assert second["resolved"] == [f"{inc.ticket} (hardware) by tech (RT)"], second
    done = incidents_store.incident(ledger, inc.id or 0)
    assert done is not None and done.resolved_at is not None
    assert done.cause == "hardware" and done.resolved_by == "tech (RT)"
    assert done.detail["billing"] in {"free", "package", "billable"}

    report = json.loads(run(te, "sla", "report", "--customer", "clinic-nord", "--json").stdout)
    [row] = [r for r in report["incidents"] if r["title"] == inc.title]
    assert (row["status"], row["cause"]) == ("met", "hardware"), row

    before = snapshot(te)
    again = sync(te)
    assert again["opened"] == again["created"] == again["resolved"] == []
    assert snapshot(te) == before


def test_unknown_sender_waits_in_triage_and_is_reported_every_sync(ticket_env: TicketEnv) -> None:
    te = ticket_env
    login(te)
    mail(te, "someone@nowhere.example", "Do you sell phones?")
    first = sync(te)
    assert [t["sender"] for t in first["triage"]] == ["someone@nowhere.example"]
    assert first["opened"] == []
    assert sync(te)["triage"] == first["triage"]  # still reported, not dropped, once recorded
    ledger = Ledger(te.ledger_url)
    assert [a.kind for a in ledger.actions(kind_prefix="ticket.triage")] == ["ticket.triage"]
    # a person moves it to a customer's queue in RT: the next sync opens the incident
    te.api().ensure_queue("kanzlei-roth")  # customer queues exist once pbxops used them
    te.tech().update(first["triage"][0]["ticket"], queue="kanzlei-roth")
    assert te.api().ticket(first["triage"][0]["ticket"]).queue == "kanzlei-roth"
    moved = sync(te)
    assert len(moved["opened"]) == 1 and moved["triage"] == []


def test_rt_down_incident_recorded_and_mailed_ticket_waits_in_outbox(ticket_env: TicketEnv) -> None:
    te = ticket_env
    login(te)
    down = {"PBXOPS_TICKET_URL": f"http://127.0.0.1:{_free_port()}/"}
    opened = run(te, "incident", "open", "clinic-nord", "SIP trunk down", **down)
    assert "INC-000001 opened" in opened.stdout
    assert "waits for `pbxops tickets sync`" in opened.stderr
    assert te.inbox.messages, "the incident is mailed while RT is down"
    run(te, "incident", "ack", "INC-000001", **down)
    failed = run(te, "tickets", "sync", check=False, **down)
    assert failed.returncode == 8 and "waiting: INC-000001 create" in failed.stdout
    out = sync(te)  # RT back
    assert len(out["created"]) == 1 and out["waiting"] == [] and out["error"] is None
    [link] = links_store.links(Ledger(te.ledger_url))
    assert te.api().ticket(link.ticket_id).status == "open"


def test_sync_killed_at_any_point_leaves_no_duplicate(ticket_env: TicketEnv) -> None:
    """kill -9 a sync after growing delays while it works on new mail and new incidents;
    the next sync completes the work: one ticket per incident, one incident per ticket."""
    te = ticket_env
    login(te)
    for round_, delay in enumerate((0.4, 0.8, 1.2, 1.6, 2.4)):
        mail(te, "it@clinic-nord.example", f"Round {round_}: no dial tone")
        run(te, "incident", "open", "kanzlei-roth", f"Round {round_}: queue full",
            PBXOPS_TICKET_URL=f"http://127.0.0.1:{_free_port()}/", check=True)
        proc = subprocess.Popen(
            [PBXOPS, "tickets", "sync"], env={**os.environ, **te.env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    final = sync(te)
    assert final["error"] is None and final["waiting"] == []
    ledger = Ledger(te.ledger_url)
    incidents = incidents_store.incidents(ledger)
    links = links_store.links(ledger)
    assert len(incidents) == 10  # 5 mails + 5 opened in pbxops
    assert len({lk.ticket_id for lk in links}) == len(links) == 10
    api = te.api()
    for inc in incidents:  # RT holds exactly one ticket per incident key
        found = list(api._rt.search(raw_query=f"'CF.{{pbxops incident}}' = '{te.instance}/{inc.ticket}'"))
        assert len(found) == 1, (inc.ticket, found)
    before = snapshot(te)
    sync(te)
    assert snapshot(te) == before


def test_credentials_are_encrypted_at_rest_and_never_printed(ticket_env: TicketEnv) -> None:
    te = ticket_env
    out = run(te, "tickets", "login", "--password-stdin", stdin=te.rt.api_password + "\n")
    stored = Path(te.env["PBXOPS_STATE_DIR"]) / "tickets" / "secret"
    assert te.rt.api_password not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600
    assert stored.parent.stat().st_mode & 0o777 == 0o700
    assert te.rt.api_password not in out.stdout + out.stderr
    wrong = run(te, "tickets", "login", "--password-stdin", stdin="wrong\n", check=False)
    assert wrong.returncode == 8 and "refused user pbxops" in wrong.stderr
    assert "wrong" not in wrong.stderr.replace("refused", "")


def test_reply_in_rt_after_the_deadline_is_a_missed_reaction(
    ticket_env: TicketEnv, valid_customer: dict[str, Any], make_book: Any
) -> None:
    """A customer whose SLA gives 2 seconds: the technician's reply in RT comes later, so
    the report shows the reaction missed (the ack is the reply's time, not the sync's)."""
    te = ticket_env
    customer = valid_customer
    customer["contracts"][1]["reaction_hours"] = 2 / 3600
    customer["contracts"][1]["channels"] = ["email", "ticket"]
    for k in customer["contracts"]:
        k["start"], k["end"] = "2026-01-01", "2099-12-31"
    te.env["PBXOPS_BOOK"] = str(make_book(customer))
    login(te)
    mail(te, "it@acme.example", "Fax server down")
    [opened] = sync(te)["opened"]
    [link] = links_store.links(Ledger(te.ledger_url))
    time.sleep(3)
    te.tech()._rt.reply(link.ticket_id, content="Looking into it.")
    out = sync(te)
    assert out["acked"] == [f"{opened.split()[0]} by tech (RT)"], out
    report = json.loads(run(te, "sla", "report", "--customer", "acme", "--json").stdout)
    [row] = report["incidents"]
    assert row["status"] == "missed", row
