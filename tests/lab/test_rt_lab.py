"""The lab's Request Tracker (`pbxops lab rt`, as `make demo` uses it), driven through the
real CLI against a real RT 5: started with its data in the lab run dir (0700) and its pid
recorded, the API password generated and kept encrypted (never in output, files, or a
command line), piped into `tickets login`; an incident becomes a ticket in the customer's
queue with the reaction deadline as due date, `tickets sync` changes nothing after it; a
second `lab rt up` is harmless; `pbxops lab down` stops it by its pid and removes its data.

It listens on loopback here: the provider address exists only while a lab's bridge is up,
and `make demo` (scripts/demo.sh) runs it there end to end.
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from orchestrator.errors import TicketSystemError
from orchestrator.lab import procs, rt
from orchestrator.ledger import Ledger
from orchestrator.ledger import sla as incidents_store
from orchestrator.ledger import tickets as links_store
from orchestrator.secrets import Redacted
from orchestrator.tickets.adapter import RtTickets
from tests.conftest import DEMO_BOOK, REPO, _free_port

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        os.environ.get("PBXOPS_STRATEGY") == "linear",
        reason="the lab's RT does not depend on the Ansible strategy: run once, under the default",
    ),
    pytest.mark.skipif(rt.available() is not None, reason=f"{rt.available()}"),
]

PBXOPS = str(REPO / ".venv" / "bin" / "pbxops")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    (tmp_path / "pbxops.yml").write_text("{}\n")
    env = {
        **os.environ,
        "PBXOPS_CONFIG": str(tmp_path / "pbxops.yml"),
        "PBXOPS_BOOK": str(DEMO_BOOK),
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_LEDGER_URL": f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}",
        "PBXOPS_SECRET_KEY": Fernet.generate_key().decode(),
        "PBXOPS_LAB_RUN_DIR": str(tmp_path / "run"),
        "PBXOPS_LAB_CACHE_DIR": str(tmp_path / "cache"),
        "PBXOPS_SMTP_PORT": "1",
    }
    try:
        yield env
    finally:  # whatever failed: no RT left running
        subprocess.run([PBXOPS, "lab", "rt", "down"], env=env, capture_output=True, timeout=60)


def cli(env: dict[str, str], *args: str, stdin: Any = None, **extra: str) -> Any:
    done = subprocess.run(
        [PBXOPS, *args],
        env={**env, **extra},
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"pbxops {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return done


def test_lab_rt_demo_path(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    up = cli(env, "lab", "rt", "up", "--listen", "loopback", "--port", str(port), "--json")
    info = json.loads(up.stdout)
    assert info["running"] and info["url"] == f"http://127.0.0.1:{port}/"
    data = Path(info["data"])
    assert data == tmp_path / "run" / "rt"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "secret").stat().st_mode) == 0o600
    assert json.loads((data / "state.json").read_text())["pid"] == info["pid"]
    assert Path(f"/proc/{info['pid']}/cwd").resolve() == data

    # the password: encrypted at rest, shown nowhere, on no command line
    fernet = Fernet(env["PBXOPS_SECRET_KEY"].encode())
    password = fernet.decrypt((data / "secret").read_text().strip().encode()).decode()
    assert len(password) >= 24
    secret_bytes = password.encode()
    for f in data.rglob("*"):
        if f.is_file():
            assert secret_bytes not in f.read_bytes(), f"password in plain text in {f}"
    assert password not in up.stdout + up.stderr
    for pid in Path("/proc").iterdir():
        if pid.name.isdigit():
            with suppress(OSError):
                assert secret_bytes not in (pid / "cmdline").read_bytes()
    tty, other = pty.openpty()
    try:
        shown = subprocess.run(
            [PBXOPS, "lab", "rt", "password"],
            env=env,
            stdout=tty,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(tty)
        os.close(other)
    assert shown.returncode == 2 and b"refusing" in shown.stderr

    # RT's own root account is off; the API user works
    url = info["url"]
    with pytest.raises(TicketSystemError):
        RtTickets(url, "root", Redacted("password")).check_queue("triage")

    # as the demo does it: password piped into tickets login, an incident becomes a ticket
    tickets = {"PBXOPS_TICKET_URL": url, "PBXOPS_TICKET_USER": "pbxops"}
    piped = subprocess.Popen([PBXOPS, "lab", "rt", "password"], env=env, stdout=subprocess.PIPE)
    login = cli(env, "tickets", "login", "--password-stdin", stdin=piped.stdout, **tickets)
    assert piped.wait(timeout=60) == 0
    assert password not in login.stdout + login.stderr
    opened = cli(
        env,
        "incident",
        "open",
        "clinic-nord",
        "SIP trunk down",
        "--host",
        "clinic-nord-pbx",
        "--no-mail",
        **tickets,
    )
    assert "ticket up to date" in opened.stdout
    sync = cli(env, "tickets", "sync", "--no-mail", **tickets)
    assert "in sync: nothing to do" in sync.stdout
    ledger = Ledger(env["PBXOPS_LEDGER_URL"])
    [inc] = incidents_store.incidents(ledger)
    [link] = links_store.links(ledger)
    ticket = RtTickets(url, "pbxops", Redacted(password)).ticket(link.ticket_id)
    assert ticket.queue == "clinic-nord" and ticket.incident == f"pbxops/{inc.ticket}"
    assert ticket.due == inc.deadline.replace(microsecond=0)

    # up again: the same server; lab down (no lab hosts up) stops it by pid, data gone
    again = json.loads(
        cli(env, "lab", "rt", "up", "--listen", "loopback", "--port", str(port), "--json").stdout
    )
    assert again["pid"] == info["pid"]
    cli(env, "lab", "down")
    assert not procs.alive(info["pid"], f"127.0.0.1:{port}")
    assert not data.exists()
    status = subprocess.run(
        [PBXOPS, "lab", "rt", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 4 and "no lab RT" in status.stdout
