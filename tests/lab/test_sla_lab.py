"""The SLA chain on real lab hosts: a host's SIP service stops, the sweep reports it, an
incident opens with the deadline of that customer's SLA, the notification reaches a real SMTP
server, acknowledging it records the reaction, and the SLA report shows it met."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import lab
from orchestrator.fleet import load_book
from orchestrator.health.prom import exposition
from orchestrator.health.service import run_sweep
from orchestrator.health.sweep import SweepOptions
from orchestrator.inventory import render_inventory
from orchestrator.ledger import Ledger
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.sla import incidents, report
from orchestrator.sla.notify import Mailer

from ..conftest import Inbox
from .conftest import eventually, running_lab

pytestmark = pytest.mark.lab
ALWAYS = {"slots": ["mon-sun 00:00-24:00"]}


def _customer(cid: str, n: int, sla: dict[str, Any] | None) -> dict[str, Any]:
    contracts: list[dict[str, Any]] = [
        {"id": f"{cid}-swm", "kind": "software_maintenance", "start": "2020-01-01"}
    ]
    if sla:
        contracts.append({"id": f"{cid}-sla", "kind": "sla", "start": "2020-01-01", **sla})
    return {
        "id": cid,
        "name": cid.title(),
        "timezone": "Europe/Berlin",
        "contacts": [{"email": f"it@{cid}.example"}],
        "sites": [{"id": "main", "subnet": f"10.210.{70 + n}.0/24"}],
        "systems": [
            {
                "hostname": f"{cid}-pbx",
                "site": "main",
                "address": f"10.210.{70 + n}.10",
                "platform": "asterisk",
                "pbx_profile": "labpbx",
                "deployment": "hardware",
                "os_release": "12",
                "licences": [{"kind": "user", "count": 5}],
                "extensions": 5,
                "maintenance_window": ALWAYS,
            }
        ],
        "contracts": contracts,
    }


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slabook")
    (root / "customers").mkdir()
    customers = [
        _customer("gold", 0, {"tier": "gold", "reaction_hours": 4, "hours_basis": "24x7"}),
        _customer("plain", 1, None),
    ]
    for c in customers:
        (root / "customers" / f"{c['id']}.yml").write_text(yaml.safe_dump(c, sort_keys=False))
    demo = Path(__file__).resolve().parents[2] / "inventory" / "demo"
    for name in ("releases.yml", "tariffs.yml", "technicians.yml"):
        (root / name).write_text((demo / name).read_text())
    return root


@pytest.fixture(scope="module")
def sla_lab(lab_settings: Settings, book: Path) -> Iterator[lab.LabState]:
    with running_lab(lab_settings, lab.specs_from_book(book)) as state:
        yield state


@pytest.fixture
def smtp() -> Iterator[tuple[Mailer, Inbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Mailer("127.0.0.1", port, "ops@provider.example"), inbox
    finally:
        controller.stop()


def test_stopped_sip_opens_incident_mails_and_is_met_when_acked(
    lab_settings: Settings,
    sla_lab: lab.LabState,
    book: Path,
    tmp_path: Path,
    smtp: tuple[Mailer, Inbox],
) -> None:
    mailer, inbox = smtp
    fleet = load_book(book)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    opts = SweepOptions(ssh_config=lab.LabPaths.of(lab_settings).ssh_config, workers=4)

    healthy = run_sweep(fleet, ledger, mailer, opts)
    assert [h.status for h in healthy.result.hosts] != [] and not healthy.result.failing, [
        h.as_dict() for h in healthy.result.hosts
    ]

    lab.run_in_host(lab_settings, "gold-pbx", ["systemctl", "stop", "labpbx.service"])
    assert eventually(lambda: probe("10.210.70.10", timeout=0.5).status is None)
    try:
        before = datetime.now(UTC)
        outcome = run_sweep(fleet, ledger, mailer, opts, textfile=tmp_path / "pbxops.prom")
        after = datetime.now(UTC)
        failing = {h.host: h for h in outcome.result.failing}
        assert set(failing) == {"gold-pbx"}
        assert {c.name for c in failing["gold-pbx"].failing} == {"service", "sip"}

        [opened] = outcome.opened
        inc = opened.incident
        assert (inc.contract_id, inc.reaction_hours, inc.hours_basis) == ("gold-sla", 4.0, "24x7")
        assert before + timedelta(hours=4) <= inc.deadline <= after + timedelta(hours=4)

        [envelope] = inbox.messages
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert msg["Subject"].startswith(f"[pbxops {inc.ticket}] customer=gold contract=gold-sla")
        assert "it@gold.example" in envelope.rcpt_tos

        families = {
            f.name: f
            for f in text_string_to_metric_families((tmp_path / "pbxops.prom").read_text())
        }
        up = {
            s.labels["host"]: s.value
            for s in families["pbxops_health_check_ok"].samples
            if s.labels["check"] == "sip"
        }
        assert up == {"gold-pbx": 0.0, "plain-pbx": 1.0}

        again = run_sweep(fleet, ledger, mailer, opts)
        assert again.opened == () and again.already_open == (inc.ticket,)
        assert len(inbox.messages) == 1
    finally:
        lab.run_in_host(lab_settings, "gold-pbx", ["systemctl", "start", "labpbx.service"])

    acked = incidents.acknowledge(ledger, inc.id or 0, "mara", datetime.now(UTC))
    assert acked.acked_at is not None and acked.acked_at <= acked.deadline
    period = report.parse_period(None, None, None, datetime.now(UTC).date())
    rep = report.sla_report(fleet, ledger, period, datetime.now(UTC))
    assert [(r.ticket, r.status) for r in rep.rows] == [(inc.ticket, "met")]
    assert exposition(run_sweep(fleet, None, None, opts).result)  # recovered host sweeps clean
    assert eventually(lambda: probe("10.210.70.10", timeout=0.5).ok)


def test_health_check_playbook_fails_only_the_broken_host(
    lab_settings: Settings, sla_lab: lab.LabState, book: Path, tmp_path: Path
) -> None:
    from orchestrator.executor import run_playbook
    from orchestrator.settings import load_settings

    settings = load_settings(
        args={
            "lab_run_dir": str(lab_settings.lab_run_dir),
            "state_dir": str(tmp_path / "state"),
            "ssh_config": str(lab.LabPaths.of(lab_settings).ssh_config),
        }
    )
    # the book's inventory: each host carries its PBX profile (pbxops_pbx) for the roles
    inventory = render_inventory(load_book(book), datetime.now(UTC).date())
    lab.run_in_host(lab_settings, "plain-pbx", ["systemctl", "stop", "labpbx.service"])
    try:
        result = run_playbook(settings, "health_check.yml", inventory, ["gold-pbx", "plain-pbx"])
    finally:
        lab.run_in_host(lab_settings, "plain-pbx", ["systemctl", "start", "labpbx.service"])
    gold, plain = result.hosts["gold-pbx"], result.hosts["plain-pbx"]
    assert not gold.failed and gold.changed == 0, gold
    assert plain.failed and plain.error == "PBX service inactive, SIP status 0", plain
    assert float(gold.facts["mem_available_pct"]) > 5
