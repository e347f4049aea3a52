"""A team on one PostgreSQL ledger: two pbxops processes on two "machines" (two lab network
namespaces, each with its own hostname and state directory) share a real PostgreSQL server
that listens on the lab's provider address. Wave locks and tunnel-address allocation hold
across them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from orchestrator import app, lab
from orchestrator.access.pool import hub_address, parse_pool
from orchestrator.ledger import waves as wl
from orchestrator.ledger.access import allocations
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe

from ..conftest import postgres_server
from .books import REPO, book_lab, customer

pytestmark = pytest.mark.lab
DRIVER = Path(__file__).resolve().parent / "team_driver.py"
SUBNET = "10.210.70.0/24"
MEMBERS = {"team-a": "north-pbx", "team-b": "south-pbx"}  # machine -> namespace it runs in
ADDRESSES = {"north-pbx": "10.210.70.10", "south-pbx": "10.210.70.11"}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    root = tmp_path_factory.mktemp("team")
    customers = [customer("team", SUBNET, ADDRESSES, end="2099-12-31", call_drain_minutes=1)]
    with book_lab(root, customers, ledger=False) as base:
        provider = str(lab.PROVIDER_INTERFACE.ip)  # on the lab bridge: every namespace reaches it
        with postgres_server(f"{provider},127.0.0.1", trust_from=("10.210.0.0/16", f"{provider}/32")) as url:
            settings = base.model_copy(update={"ledger_url": url})
            app.db_upgrade(settings)  # `pbxops db upgrade`, once, before the team starts
            try:
                yield settings, root
            finally:
                _stop_ssh_masters(root)


def _member(s: Settings, root: Path, machine: str, args: list[str]) -> subprocess.Popen[str]:
    """A pbxops process on its own machine: its own hostname (UTS namespace), the lab
    host's network namespace, its own state directory and SSH connection cache."""
    state = lab.lab_state(s)
    host = state.host(MEMBERS[machine]) if state else None
    assert host is not None
    env = dict(
        os.environ, PBXOPS_BOOK=str(s.book), PBXOPS_LEDGER_URL=s.ledger,
        PBXOPS_STATE_DIR=str(root / machine), PBXOPS_SSH_CONFIG=str(s.ssh_config),
        PBXOPS_LAB_RUN_DIR=str(s.lab_run_dir), PBXOPS_SMTP_PORT="1",
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(root / machine / "cp"),
    )
    argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh",
            machine, "ip", "netns", "exec", host.netns, sys.executable, str(DRIVER), *args]
    return subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _both(s: Settings, root: Path, args: dict[str, list[str]], timeout: float) -> dict[str, Any]:
    """Start both members at once; their JSON answers by machine. Stops them by pid."""
    procs = {m: _member(s, root, m, a) for m, a in args.items()}
    answers: dict[str, Any] = {}
    try:
        for machine, proc in procs.items():
            out, err = proc.communicate(timeout=timeout)
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            assert lines, f"{machine} (exit {proc.returncode}): {out[-2000:]} {err[-3000:]}"
            answers[machine] = {**json.loads(lines[-1]), "rc": proc.returncode}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this test started
                proc.wait()
    return answers


def _stop_ssh_masters(root: Path) -> None:
    for sock in root.glob("team-*/cp/*"):
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "by-socket"],
                       capture_output=True, check=False, timeout=10)


def test_two_machines_start_the_same_wave_exactly_one_runs_it(team: tuple[Settings, Path]) -> None:
    s, root = team
    wave_id, _ = app.plan_wave(s, "pbx-18.1", options=PlanOptions(batch_size=2))
    assert wave_id is not None
    start_at = str(time.time() + 8)  # both connected and imported by then
    answers = _both(s, root, {m: ["wave", start_at, str(wave_id)] for m in MEMBERS}, 600)

    assert {a["client"] for a in answers.values()} == set(ADDRESSES.values()), answers
    ran = [a for a in answers.values() if a["result"] == "ran"]
    refused = [a for a in answers.values() if a["result"] == "refused"]
    assert len(ran) == 1 and len(refused) == 1, answers
    assert ran[0]["rc"] == 0 and ran[0]["status"] == "completed", answers
    assert refused[0]["rc"] == 5
    assert f"wave:{wave_id} is locked by another run ({ran[0]['machine']}:" in refused[0]["message"]
    assert "two waves never touch the same host at once" in refused[0]["message"]

    rows = wl.host_rows(app.open_ledger(s), wave_id)
    assert {r.hostname: (r.status, r.attempts) for r in rows} == {
        "north-pbx": ("done", 1), "south-pbx": ("done", 1)}
    for address in ADDRESSES.values():
        assert probe(address, timeout=3).version == "18.1.0"
    ledger = app.open_ledger(s)
    assert wl.get_wave(ledger, wave_id).status == "completed"  # type: ignore[union-attr]
    assert not [n for n in ("wave", "host") if _locks_left(s, n)], "locks released"


def _locks_left(s: Settings, prefix: str) -> list[str]:
    with app.open_ledger(s).engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM locks")).scalars()
        return [n for n in names if n.startswith(prefix)]


def test_two_machines_allocate_tunnel_addresses_none_lost_none_shared(
    team: tuple[Settings, Path],
) -> None:
    s, root = team
    start_at = str(time.time() + 6)
    # team-a: customers c000..c079, team-b: c040..c119 (c040..c079 by both at once)
    answers = _both(s, root, {"team-a": ["allocate", start_at, "0", "80"],
                              "team-b": ["allocate", start_at, "40", "80"]}, 300)
    assert all(a["rc"] == 0 for a in answers.values()), answers
    assert {a["client"] for a in answers.values()} == set(ADDRESSES.values())

    rows = allocations(app.open_ledger(s))
    in_db = {r.node: r.address for r in rows}
    assert len(rows) == 120 and len(in_db) == 120
    assert len(set(in_db.values())) == 120, "no address given to two spokes"
    pool = parse_pool(s.vpn_pool)
    lowest = {str(a) for a in islice(pool.hosts(), 1, 121)}  # the hub's is the first
    assert set(in_db.values()) == lowest, "the 120 lowest spoke addresses, no gap, no hub"
    assert str(hub_address(pool)) not in in_db.values()
    got = {m: {node: addr for _c, node, addr in a["allocations"]} for m, a in answers.items()}
    for machine, mine in got.items():
        assert mine == {n: in_db[n] for n in mine}, f"{machine} was told an address the ledger lacks"
    shared = set(got["team-a"]) & set(got["team-b"])
    assert len(shared) == 40
    assert all(got["team-a"][n] == got["team-b"][n] for n in shared), "one address per spoke"
