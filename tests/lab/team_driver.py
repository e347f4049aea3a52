"""One pbxops process of a team member, for tests/lab/test_team_postgres_lab.py.

Started by the test inside a lab host's network namespace (its own "machine" on the lab
network, with its own hostname) against the shared PostgreSQL ledger named by
``PBXOPS_LEDGER_URL``. Waits until the wall-clock time START_AT so both team members act
at the same moment, then prints one JSON line with what it got:

    python team_driver.py wave START_AT WAVE_ID
    python team_driver.py allocate START_AT FIRST COUNT
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from orchestrator import app
from orchestrator.access.pool import first_free, parse_pool
from orchestrator.errors import RefusedError
from orchestrator.ledger import Ledger
from orchestrator.ledger.access import allocate
from orchestrator.settings import load_settings
from orchestrator.waves import RunOptions


def wait_until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def client_address(ledger: Ledger) -> str:
    """The address this process reaches the database from, as the server sees it."""
    with ledger.engine.connect() as conn:
        return str(conn.execute(text("SELECT inet_client_addr()")).scalar())


def run_wave(start_at: float, wave_id: int) -> int:
    settings = load_settings()
    me = {"machine": socket.gethostname(), "client": client_address(app.open_ledger(settings))}
    wait_until(start_at)
    try:
        # resume=True: go straight for the locks even if the other member started first
        outcome = app.run_wave(
            settings, wave_id, RunOptions(call_poll_seconds=1, ignore_windows=True), resume=True
        )
    except RefusedError as exc:
        print(json.dumps({**me, "result": "refused", "message": str(exc)}))
        return 5
    print(json.dumps({**me, "result": "ran", "status": outcome.status}))
    return 0


def allocate_many(start_at: float, first: int, count: int) -> int:
    settings = load_settings()
    ledger = app.open_ledger(settings)
    pool = parse_pool(settings.vpn_pool)
    me = {"machine": socket.gethostname(), "client": client_address(ledger)}
    wait_until(start_at)
    got = []
    for i in range(first, first + count):
        customer = f"c{i:03d}"
        a = allocate(ledger, customer, "main", f"{customer}-pbx", lambda used: first_free(pool, used))
        got.append([a.customer_id, a.node, a.address])
    print(json.dumps({**me, "allocations": got}))
    return 0


def main(argv: list[str]) -> int:
    kind, start_at = argv[0], float(argv[1])
    if kind == "wave":
        return run_wave(start_at, int(argv[2]))
    return allocate_many(start_at, int(argv[2]), int(argv[3]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
