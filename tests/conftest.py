"""Shared fixtures: the demo book, a factory for small books, and a real PostgreSQL."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEMO_BOOK = REPO / "inventory" / "demo"

VALID_CUSTOMER: dict[str, Any] = {
    "id": "acme",
    "name": "ACME GmbH",
    "timezone": "Europe/Berlin",
    "contacts": [{"name": "IT", "email": "it@acme.example", "phone": "+49 30 1"}],
    "sites": [{"id": "hq", "subnet": "10.60.1.0/24"}],
    "systems": [
        {
            "hostname": "acme-pbx",
            "site": "hq",
            "address": "10.60.1.10",
            "platform": "asterisk",
            "pbx_profile": "labpbx",  # the demo catalogue's pbx-* releases pin labpbx
            "deployment": "hardware",
            "os_release": "12",
            "licences": [{"kind": "user", "count": 10}],
            "extensions": 10,
            "maintenance_window": {"slots": ["tue,thu 22:00-04:00"], "exceptions": ["2026-12-24"]},
            "hardware": [{"item": "server", "cost": 1500}],
            "phones": [
                {
                    "mac": "80:5E:C0:00:00:01",
                    "vendor": "yealink",
                    "model": "T54W",
                    "extension": "101",
                    "display_name": "Anna",
                },
                {
                    "mac": "00:04:13:00:00:02",
                    "vendor": "snom",
                    "model": "D785",
                    "extension": "102",
                    "display_name": "Ben",
                },
            ],
        }
    ],
    "contracts": [
        {
            "id": "acme-swm",
            "kind": "software_maintenance",
            "start": "2026-01-01",
            "end": "2026-12-31",
        },
        {
            "id": "acme-sla",
            "kind": "sla",
            "tier": "gold",
            "reaction_hours": 4,
            "start": "2026-01-01",
            "end": "2026-12-31",
        },
        {
            "id": "acme-hwm",
            "kind": "hardware_maintenance",
            "start": "2026-01-01",
            "end": "2026-12-31",
        },
    ],
}

BookFactory = Callable[..., Path]


@pytest.fixture
def valid_customer() -> dict[str, Any]:
    return copy.deepcopy(VALID_CUSTOMER)


@pytest.fixture
def make_book(tmp_path: Path) -> BookFactory:
    """Write a book of the given customer dicts (or raw YAML texts) into a temp dir."""

    def make(
        *customers: dict[str, Any] | tuple[str, str], extra: dict[str, str] | None = None
    ) -> Path:
        root = tmp_path / "book"
        (root / "customers").mkdir(parents=True, exist_ok=True)
        for c in customers:
            if isinstance(c, tuple):
                name, text = c
                (root / "customers" / f"{name}.yml").write_text(text)
            else:
                (root / "customers" / f"{c['id']}.yml").write_text(
                    yaml.safe_dump(c, sort_keys=False)
                )
        for name, text in (extra or {}).items():
            (root / name).write_text(text)
        return root

    return make


class Inbox:
    """An aiosmtpd handler that keeps every message it receives (the tests' real SMTP)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    for version in ("17", "16", "15"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin")
        if (candidate / "initdb").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server started for this test session, stopped by its pid."""
    with postgres_server() as url:
        yield url


@contextmanager
def postgres_server(listen: str = "127.0.0.1", trust_from: tuple[str, ...] = ()) -> Iterator[str]:
    """Start a real PostgreSQL server listening on ``listen`` (comma-separated addresses;
    the first is the one in the returned URL) with a ``ledger`` database; ``trust_from``
    are networks (besides localhost) whose clients may connect as ``pbxops``. Stopped by
    its pid, data removed, when the block ends."""
    pg = _pg_bin()
    if pg is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing on CI (run: make setup)")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="pbxops-pg-"))  # not under pytest's 0700 tmp root
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    host = listen.split(",")[0].strip()
    try:
        subprocess.run(
            [*as_pg, str(pg / "initdb"), "-D", str(data), "-U", "pbxops", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.writelines(f"host all pbxops {net} trust\n" for net in trust_from)
        port = _free_port()
        subprocess.Popen(
            [
                *as_pg,
                str(pg / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                f"listen_addresses={listen}",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        pid = _wait_pg(pg, port, data, as_pg, host)
        try:
            subprocess.run(
                [
                    *as_pg,
                    str(pg / "createdb"),
                    "-h",
                    host,
                    "-p",
                    str(port),
                    "-U",
                    "pbxops",
                    "ledger",
                ],
                check=True,
                capture_output=True,
            )
            yield f"postgresql+psycopg2://pbxops@{host}:{port}/ledger"
        finally:
            _stop_pid(pid)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _wait_pg(pg: Path, port: int, data: Path, as_pg: list[str], host: str = "127.0.0.1") -> int:
    """Wait until the server accepts connections; return the postmaster's pid."""
    for _ in range(150):
        ok = subprocess.run(
            [*as_pg, str(pg / "pg_isready"), "-h", host, "-p", str(port)],
            capture_output=True,
        )
        pidfile = data / "postmaster.pid"
        if ok.returncode == 0 and pidfile.exists():
            return int(pidfile.read_text().split()[0])
        time.sleep(0.2)
    raise RuntimeError(f"PostgreSQL did not start on port {port} (data dir {data})")


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL "fast" shutdown
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


_LAB_LOCK: list[Any] = []


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselected: a "not lab" run never waits
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Lab tests share one machine-wide lab (bridge, addresses): a pytest session that
    will run any of them first waits for an exclusive lock, so two sessions never build
    two labs on the same addresses at once."""
    if not any(item.get_closest_marker("lab") for item in items):
        return
    import fcntl

    lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
    fh = (lock_dir / "pbxops-lab-tests.lock").open("w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    _LAB_LOCK.append(fh)  # held until the process exits
