"""Phone provisioning in the lab: publish the demo customers' phones to their PBX hosts,
fetch every file over HTTP by MAC as a phone would, swap a phone from the stock, and run
the hardware-failure workaround against a second (standby) PBX host."""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from orchestrator import lab
from orchestrator.phones import spares
from orchestrator.phones.service import Workspace, open_workspace, publish_customer, render_customer
from orchestrator.phones.swap import swap_phone, workaround
from orchestrator.settings import Settings, load_settings
from orchestrator.sipprobe import probe

from ..secret_key import ensure_key
from .conftest import TEST_RUN_DIR, running_lab

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = {"provider-lab": "lab-pbx", "clinic-nord": "clinic-nord-pbx",
             "dockside": "dockside-pbx", "alpenblick": "alpenblick-pbx"}
TODAY = date.today()


@pytest.fixture(scope="module")
def phones_lab(lab_settings: Settings) -> Iterator[lab.LabState]:
    wanted = set(CUSTOMERS.values())
    specs = [s for s in lab.specs_from_book(REPO / "inventory" / "demo") if s.name in wanted]
    with running_lab(lab_settings, specs) as state:
        yield state


@pytest.fixture(scope="module")
def ws(phones_lab: lab.LabState, lab_settings: Settings,
       tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    tmp = tmp_path_factory.mktemp("phones-lab")
    book = tmp / "book"
    shutil.copytree(REPO / "inventory" / "demo", book)
    settings = load_settings(
        {
            "lab_run_dir": TEST_RUN_DIR,
            "book": str(book),
            "state_dir": str(tmp / "state"),
            "ledger_url": f"sqlite:///{tmp / 'ledger.sqlite'}",
            "secret_key_file": str(tmp / "secret.key"),
            "ssh_config": str(lab.LabPaths.of(lab_settings).ssh_config),
        },
        env={},
    )
    return open_workspace(ensure_key(settings))


def fetch(address: str, name: str) -> tuple[int, str]:
    """HTTP GET as a phone does at boot."""
    try:
        with urllib.request.urlopen(f"http://{address}/{name}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_publish_serves_every_phone_file_by_mac(ws: Workspace) -> None:
    for customer in CUSTOMERS:
        outcomes = publish_customer(ws, customer, "lab-test", TODAY)
        assert all(o.ok and o.changed for o in outcomes), outcomes
    for customer in CUSTOMERS:
        for host in render_customer(ws, customer):
            for f in host.files.files:
                assert fetch(host.address, f.name) == (200, f.content), (host.hostname, f.name)
    dockside = render_customer(ws, "dockside")[0].address
    assert "cfgc074ad" not in fetch(dockside, "")[1]  # the directory is not listable
    assert fetch(dockside, "cfg000000000000.xml")[0] == 404


def test_second_publish_changes_nothing(ws: Workspace) -> None:
    for customer in CUSTOMERS:
        for outcome in publish_customer(ws, customer, "lab-test", TODAY):
            assert (outcome.changed, outcome.removed) == ((), ())


def test_fetched_config_names_a_live_sip_server(ws: Workspace) -> None:
    [host] = render_customer(ws, "dockside")
    f = next(f for f in host.files.files if f.mac)
    _, body = fetch(host.address, f.name)
    server = re.search(r"<P47>([0-9.]+):5060</P47>", body)
    assert server is not None
    assert probe(server.group(1)).status == 200


def test_swap_moves_the_file_and_changes_stock_and_ledger(ws: Workspace) -> None:
    before = next(x for x in spares.stock_view(ws) if x.model == "VVX450")
    result = swap_phone(ws, "clinic-nord", "64:16:7F:04:00:00", "64:16:7F:04:99:99",
                        "lab-test", TODAY)
    assert result.contract_id == "clinic-nord-hwm"
    address = ws.fleet.host("clinic-nord-pbx").address
    assert fetch(str(address), "64167f040000-phone.cfg")[0] == 404
    status, body = fetch(str(address), "64167f049999-phone.cfg")
    assert status == 200 and f'reg.1.address="{result.extension}"' in body
    after = next(x for x in spares.stock_view(ws) if x.model == "VVX450")
    assert after.count == before.count - 1
    [action] = ws.ledger.actions(customer_id="clinic-nord", kind_prefix="phones.swap")
    assert action.contract_id == "clinic-nord-hwm" and action.detail["new_mac"] == "64167f049999"


def test_workaround_repoints_phones_to_the_standby_and_reverts(ws: Workspace) -> None:
    standby = str(ws.fleet.host("lab-pbx").address)
    [clinic] = render_customer(ws, "clinic-nord")
    phone_files = [f for f in clinic.files.files if f.mac]
    own = [f.name for h in render_customer(ws, "provider-lab") for f in h.files.files if f.mac]

    workaround(ws, "clinic-nord", "lab-pbx", "lab-test", TODAY)
    for f in phone_files:
        status, body = fetch(standby, f.name)
        assert status == 200 and standby in body, f.name
    assert all(fetch(standby, name)[0] == 200 for name in own)
    [action] = ws.ledger.actions(customer_id="clinic-nord", kind_prefix="phones.workaround")
    assert action.contract_id == "clinic-nord-hwm"

    workaround(ws, "clinic-nord", "lab-pbx", "lab-test", TODAY, revert=True)
    assert all(fetch(standby, f.name)[0] == 404 for f in phone_files)
    assert all(fetch(standby, name)[0] == 200 for name in own)  # the standby's phones stay
    assert all(fetch(clinic.address, f.name)[0] == 200 for f in phone_files)
