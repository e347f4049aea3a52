"""Phones that register, against REAL Asterisk (the Debian package on a sid lab host):
pbxops publishes a customer's phone files and the PBX's PJSIP accounts; each phone's file
is fetched over HTTP and read as the phone would (tests/phone_reader.py); a SIP client
registers with what it says over real UDP (tests/lab/sipclients.py's REGISTER with digest
auth: 200 for the right password, 401/403 for a wrong one; `pjsip show contacts` shows
them); a swapped phone registers with the same account. Then the update's registrations post-check: baresip phones stay registered, a good
release passes once they registered again, and a release that answers SIP OPTIONS but has
lost its registrar (lab/packages/asterisk/repack.toml: no-registrar) is rolled back."""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from orchestrator import app, lab
from orchestrator.phones.service import Workspace, open_workspace, publish_customer, render_customer
from orchestrator.phones.swap import swap_phone
from orchestrator.planner import PlanOptions
from orchestrator.platforms import profile
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.waves import RunOptions
from tests.phone_reader import PhoneAccount, read_account

from . import waves
from .books import book_lab, one_pbx_customer
from .conftest import eventually
from .sipclients import baresip, register

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                       reason="registration does not depend on the Ansible strategy: run once, "
                              "under the default"),
]

HOST = "regs-pbx"
OCTET = 90
CONTROLLER = f"10.210.{OCTET}.1"  # the controller's address on the host's lab subnet
TODAY = date.today()
PHONES = [  # Yealink and every XML vendor; a display name that tries to inject config
    {"mac": "80:5e:c0:5a:00:01", "vendor": "yealink", "model": "T54W", "extension": "201",
     "display_name": "Yara Link"},
    {"mac": "00:04:13:5a:00:02", "vendor": "snom", "model": "D785", "extension": "202",
     "display_name": "Sam \"x\" <y>; [evil]\ntype=endpoint"},
    {"mac": "64:16:7f:5a:00:03", "vendor": "poly", "model": "VVX450", "extension": "203",
     "display_name": "Polly"},
    {"mac": "c0:74:ad:5a:00:04", "vendor": "grandstream", "model": "GRP2614",
     "extension": "204", "display_name": "Grant"},
]
STOCK = "---\nitems:\n  - {vendor: yealink, model: T54W, count: 2, low_water: 0}\n"
BROKEN_REGISTRAR = "asterisk-22.10-lab4"  # answers OPTIONS, REGISTER goes nowhere
GOOD = "asterisk-22.10-lab1"


def _customer() -> dict[str, Any]:
    c = one_pbx_customer("regs", OCTET)
    system = c["systems"][0]
    system.update(pbx_profile="asterisk", deployment="hardware", phones=PHONES)
    c["contracts"][0]["registration_recovery_minutes"] = 2
    c["contracts"] += [
        {"id": "regs-sla", "kind": "sla", "start": "2020-01-01", "end": "2030-12-31",
         "tier": "gold", "reaction_hours": 4},
        {"id": "regs-hwm", "kind": "hardware_maintenance", "start": "2020-01-01",
         "end": "2030-12-31"},
    ]
    return c


@pytest.fixture(scope="module")
def reg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    key = os.environ.get("PBXOPS_SECRET_KEY")
    os.environ["PBXOPS_SECRET_KEY"] = Fernet.generate_key().decode()  # this module's key
    try:
        with book_lab(tmp_path_factory.mktemp("registration"), [_customer()]) as settings:
            (settings.book / "stock.yml").write_text(STOCK)
            yield settings
    finally:
        if key is None:
            os.environ.pop("PBXOPS_SECRET_KEY", None)
        else:
            os.environ["PBXOPS_SECRET_KEY"] = key


@pytest.fixture(scope="module")
def ws(reg_env: Settings) -> Workspace:
    return open_workspace(reg_env)


def _sh(s: Settings, script: str) -> str:
    return lab.run_in_host(s, HOST, ["sh", "-c", script])


def _fetch(address: str, name: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}/{name}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _accounts(ws: Workspace) -> dict[str, PhoneAccount]:
    """Extension -> the account each phone reads from the file the PBX serves it."""
    [host] = render_customer(ws, "regs")
    out = {}
    for f in host.files.files:
        if f.mac:
            status, body = _fetch(host.address, f.name)
            assert status == 200, f.name
            out[str(f.extension)] = read_account(f.name, body)
    return out


def _contacts(s: Settings) -> str:
    return _sh(s, "asterisk -rx 'pjsip show contacts'")


def test_publish_installs_the_accounts_and_each_phone_registers_with_its_file(
        reg_env: Settings, ws: Workspace) -> None:
    s = reg_env
    [outcome] = publish_customer(ws, "regs", "lab-test", TODAY)
    assert outcome.ok and outcome.accounts_changed
    conf = profile("asterisk").sip_accounts_file
    mode, owner = _sh(s, f"stat -c '%a %U:%G' {conf}").split()
    assert (mode, owner) == ("640", "root:asterisk")
    assert "#include pbxops-accounts.conf" in _sh(s, "cat /etc/asterisk/pjsip.conf")
    endpoints = _sh(s, "asterisk -rx 'pjsip list endpoints'")
    assert all(re.search(rf"Endpoint:\s+{ext}\b", endpoints) for ext in ("201", "202", "203", "204"))
    assert "evil" not in endpoints  # the display name did not open a section
    accounts = _accounts(ws)
    assert {a.vendor for a in accounts.values()} == {"yealink", "snom", "poly", "grandstream"}
    for port, (ext, account) in enumerate(sorted(accounts.items()), start=5170):
        assert account.server == str(ws.fleet.host(HOST).address)
        ok = register(account, CONTROLLER, port)
        assert ok.status == 200, (ext, ok.output[-1500:])
        wrong = register(account, CONTROLLER, port + 100, password="Wrong" + ext * 4)
        assert wrong.status in (401, 403), (ext, wrong.output[-1500:])
    contacts = _contacts(s)
    for port, ext in enumerate(sorted(accounts), start=5170):
        assert f"{ext}/sip:{ext}@{CONTROLLER}:{port}" in contacts, contacts
    for port in range(5270, 5270 + len(accounts)):  # the wrong passwords
        assert f"@{CONTROLLER}:{port}" not in contacts
    for port, (ext, account) in enumerate(sorted(accounts.items()), start=5170):
        gone = register(account, CONTROLLER, port, expires=0)  # unregister
        assert gone.status == 200, (ext, gone.output[-1500:])
    assert f"@{CONTROLLER}:" not in _contacts(s)


def test_a_second_publish_does_not_reload_the_accounts(ws: Workspace) -> None:
    [outcome] = publish_customer(ws, "regs", "lab-test", TODAY)
    assert outcome.ok and not outcome.accounts_changed and outcome.changed == ()


def test_no_plaintext_password_outside_the_pbx_files(reg_env: Settings, ws: Workspace) -> None:
    secrets = set(render_customer(ws, "regs")[0].files.secrets)
    assert secrets
    for path in Path(reg_env.state_dir).rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            text = path.read_bytes().decode(errors="replace")
            assert not any(x in text for x in secrets), path
    perms = _sh(reg_env, "find /etc/asterisk /srv/provisioning -type f -perm /o+r")
    assert "pbxops-accounts" not in perms and ".cfg" not in perms and ".xml" not in perms


def test_a_swapped_phone_registers_with_the_same_account(reg_env: Settings, ws: Workspace) -> None:
    s = reg_env
    before = _accounts(ws)["201"]
    swap_phone(ws, "regs", "80:5e:c0:5a:00:01", "80:5e:c0:5a:99:99", "lab-test", TODAY)
    address = str(ws.fleet.host(HOST).address)
    assert _fetch(address, "805ec05a0001.cfg")[0] == 404
    status, body = _fetch(address, "805ec05a9999.cfg")
    assert status == 200
    after = read_account("805ec05a9999.cfg", body)
    assert (after.user, after.password) == (before.user, before.password)
    new = register(after, CONTROLLER, 5190)  # the new phone, its own contact
    assert new.status == 200, new.output[-1500:]
    contacts = _contacts(s)
    assert f"201/sip:201@{CONTROLLER}:5190" in contacts, contacts
    assert f"201/sip:201@{CONTROLLER}:5170" not in contacts  # max_contacts=1, replaced
    assert register(after, CONTROLLER, 5190, expires=0).status == 200  # unregister


# -- registrations as an update post-check ------------------------------------------------


def _registered(s: Settings) -> dict[str, int]:
    lines = _sh(s, "date +%s; " + profile("asterisk").registrations_command).split()
    now, pairs = int(lines[0]), lines[1:]
    return {pairs[i]: int(pairs[i + 1]) for i in range(0, len(pairs), 2)
            if int(pairs[i + 1]) > now}


def _plan(s: Settings, release: str) -> int:
    wave_id, _ = app.plan_wave(s, release, options=PlanOptions(batch_size=1, canary_size=0))
    assert wave_id is not None
    return wave_id


def _registered_again_since(s: Settings, before: dict[str, int]) -> bool:
    now = _registered(s)
    return all(now.get(aor, 0) > exp for aor, exp in before.items())


def test_update_passes_once_the_phones_registered_again_and_a_release_that_loses_them_is_rolled_back(
        reg_env: Settings, ws: Workspace) -> None:
    s = reg_env
    phones = [a for ext, a in sorted(_accounts(ws).items()) if ext in ("202", "203")]
    with baresip(phones, CONTROLLER, 5300, regint=60) as client:
        assert eventually(lambda: set(_registered(s)) == {"202", "203"}, 30, 1), _registered(s)
        before = _registered(s)

        wave_id = _plan(s, GOOD)
        outcome = app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1))
        row = waves.rows(s, wave_id)[HOST]
        assert outcome.status == "completed" and row.status == "done", (row.status, row.error)
        assert _registered_again_since(s, before), (before, _registered(s))
        assert probe(str(ws.fleet.host(HOST).address), timeout=3).status == 200

        before = _registered(s)
        wave_id = _plan(s, BROKEN_REGISTRAR)
        app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1, max_failure_percent=100))
        row = waves.rows(s, wave_id)[HOST]
        assert row.status == "rolled_back", (row.status, row.error)
        assert "registrations lost: 0 of 2 endpoints registered again" in row.error, row.error
        installed = _sh(s, "dpkg-query -W -f='${Version}' asterisk")
        assert installed.endswith("+lab1"), installed
        assert client.poll() is None
    # rolled back: the registrar is there again and a phone registers with it (baresip itself
    # retries a failed refresh with a growing back-off of up to minutes, as phones do)
    loaded = _sh(s, "asterisk -rx 'module show like res_pjsip_registrar.so'")
    assert "1 modules loaded" in loaded, loaded
    phone = _accounts(ws)["204"]
    again = register(phone, CONTROLLER, 5199)
    assert again.status == 200, again.output[-1500:]
    assert register(phone, CONTROLLER, 5199, expires=0).status == 200
