"""A real Request Tracker 5 (Debian's request-tracker5 + rt5-db-sqlite) for tests, started
as the suite starts PostgreSQL: its own SQLite database and config in a temp dir, RT's
standalone server (Starlet) on a free loopback port, stopped by its pid. The start-up is
the lab's (``orchestrator/lab/rt.py``, which ``make demo``'s RT uses too).

``RT_SITE_CONFIG``/``RT_SITE_CONFIG_DIR`` point RT at the temp dir's config, so the
Debian system config under /etc/request-tracker5 is neither read nor changed. The
database gets RT's initial data, pbxops's (scripts/rt/pbxops-initialdata: triage queue,
custom fields, mail rights) and two users with random passwords: ``pbxops`` (the API
user, SuperUser) and ``tech`` (a technician working in RT's side, SuperUser).

A relay (aiosmtpd) hands every mail it receives to ``rt-mailgate``, as a mail server's
alias would: customer mail to the support address becomes a ticket in the triage queue.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lab import rt as rtlab
from tests.conftest import _free_port

RT_MAILGATE = rtlab.RT_MAILGATE


@dataclass(frozen=True)
class RtServer:
    url: str  # web base URL, e.g. http://127.0.0.1:PORT/
    pid: int
    data: Path
    api_user: str
    api_password: str
    tech_user: str
    tech_password: str


def rt_available() -> str | None:
    """None when RT can run here, else why not."""
    return rtlab.available()


@contextmanager
def rt_server() -> Iterator[RtServer]:
    why = rt_available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Request Tracker missing on CI: {why} (run: make setup)")
        pytest.skip(f"Request Tracker not installed: {why}")
    data = Path(tempfile.mkdtemp(prefix="pbxops-rt-"))
    port = _free_port()
    api, tech = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    try:
        rtlab.init_database(data, "127.0.0.1", port, {"pbxops": api, "tech": tech})
        proc = rtlab.start_server(data, "127.0.0.1", port)
        url = rtlab.base_url("127.0.0.1", port)
        try:
            rtlab.wait_ready(url, proc.pid, data / "server.log")
            yield RtServer(url, proc.pid, data, "pbxops", api, "tech", tech)
        finally:
            stop(proc.pid)
            proc.wait(timeout=5)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def stop(pid: int) -> None:
    """Stop the server we started: its process group (Starlet's workers) by its pid."""
    rtlab.stop_server(pid)


class MailgateRelay:
    """An SMTP server (aiosmtpd handler) that hands each mail to rt-mailgate."""

    def __init__(self, rt_url: str, queue: str = "triage") -> None:
        self.rt_url = rt_url
        self.queue = queue
        self.delivered: list[bytes] = []
        self.failures: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        done = subprocess.run(
            [
                str(RT_MAILGATE),
                "--queue",
                self.queue,
                "--action",
                "correspond",
                "--url",
                self.rt_url,
            ],
            input=envelope.content,
            capture_output=True,
            timeout=60,
        )
        if done.returncode != 0:
            self.failures.append(done.stderr.decode(errors="replace"))
            return "451 rt-mailgate failed, try again later"
        self.delivered.append(envelope.content)
        return "250 OK: handed to RT"
