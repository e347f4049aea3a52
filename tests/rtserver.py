"""A real Request Tracker 5 (Debian's request-tracker5 + rt5-db-sqlite) for tests, started
as the suite starts PostgreSQL: its own SQLite database and config in a temp dir, RT's
standalone server (Starlet) on a free loopback port, stopped by its pid.

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
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, _free_port

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_SETUP = Path("/usr/sbin/rt-setup-database-5")
RT_MAILGATE = Path("/usr/bin/rt-mailgate")
INITIALDATA = REPO / "scripts" / "rt" / "pbxops-initialdata"


@dataclass(frozen=True)
class RtServer:
    url: str  # web base URL, e.g. http://127.0.0.1:PORT/
    pid: int
    data: Path
    api_user: str
    api_password: str
    tech_user: str
    tech_password: str


def _site_config(data: Path, port: int) -> str:
    return f"""
Set($rtname, 'pbxops');
Set($Organization, 'pbxops.test');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{data}/rt5.db');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($CorrespondAddress, 'support@provider.example');
Set($CommentAddress, 'support-comment@provider.example');
Set($LogToSyslog, undef);
Set($LogToSTDERR, 'error');
Set($MailCommand, 'testfile');
Set($Timezone, 'UTC');
Set($RestrictReferrer, 0);
1;
"""


def _users(api: str, tech: str) -> str:
    return f"""
@Users = (
    {{ Name => 'pbxops', EmailAddress => 'pbxops@provider.example', Password => '{api}',
       Privileged => 1 }},
    {{ Name => 'tech', EmailAddress => 'tech@provider.example', Password => '{tech}',
       Privileged => 1 }},
);
@ACL = (
    {{ UserId => 'pbxops', Right => 'SuperUser' }},
    {{ UserId => 'tech', Right => 'SuperUser' }},
);
1;
"""


def _env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RT_SITE_CONFIG": str(data / "RT_SiteConfig.pm"),
        "RT_SITE_CONFIG_DIR": str(data / "RT_SiteConfig.d"),
    }


def _setup(data: Path, *args: str) -> None:
    subprocess.run(
        [str(RT_SETUP), *args], env=_env(data), check=True, capture_output=True, cwd=data
    )


def _wait_http(url: str, pid: int, log: Path) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}REST/2.0/", timeout=2) as r:
                if r.status in (200, 401):
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise RuntimeError(f"rt-server exited: {log.read_text()[-2000:]}") from None
        time.sleep(0.2)
    raise RuntimeError(f"RT did not answer on {url}")


def rt_available() -> str | None:
    """None when RT can run here, else why not."""
    for path in (RT_SERVER, RT_SETUP, RT_MAILGATE):
        if not path.exists():
            return f"{path} missing (apt-get install request-tracker5 rt5-db-sqlite rt5-standalone)"
    return None


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
        (data / "RT_SiteConfig.d").mkdir()
        (data / "RT_SiteConfig.pm").write_text(_site_config(data, port))
        (data / "users").write_text(_users(api, tech))
        _setup(data, "--action", "init", "--skip-create")
        _setup(data, "--action", "insert", "--datafile", str(INITIALDATA))
        _setup(data, "--action", "insert", "--datafile", str(data / "users"))
        log = data / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(RT_SERVER), "--server", "Starlet", "--listen", f"127.0.0.1:{port}"],
                env=_env(data),
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_http(url, proc.pid, log)
            yield RtServer(url, proc.pid, data, "pbxops", api, "tech", tech)
        finally:
            stop(proc.pid)
            proc.wait(timeout=5)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def stop(pid: int) -> None:
    """Stop the server we started: its process group (Starlet's workers) by its pid."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    os.killpg(pid, signal.SIGKILL)


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
