"""kill -9 at the moments a secret exists outside the encrypted store (issue 15, finding
6b/6c): while `phones publish` runs its playbook (the phone files, SIP passwords inside, are
staged on the controller) and while a certificate is signed (the CA private key is handed to
ssh-keygen). A real pbxops process is SIGKILLed at that point; then every file under the
state dir, the temporary directory and /dev/shm is searched for the planted secrets."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.access import ca
from orchestrator.phones.service import open_workspace
from orchestrator.scratch import scratch_dir, sweep

from .phones_book import settings_for, write_book
from .test_phones_service import PLANTED, _plant

REPO = Path(__file__).resolve().parents[2]


def _files_with(roots: list[Path], needles: list[str]) -> list[str]:
    """Files under ``roots`` holding any needle (os.walk: a directory removed meanwhile
    is skipped, not an error)."""
    found = []
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    if path.is_file() and not path.is_symlink():
                        text = path.read_bytes().decode(errors="replace")
                        found += [f"{path}: {n[:12]}..." for n in needles if n in text]
                except OSError:
                    continue
    return found


def _wait_for(check: object, what: str, limit: float = 120) -> None:
    """Poll until ``check()`` is true (a generous limit, no timing asserted)."""
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def _mentioning(text: str) -> list[int]:
    """Processes whose command line or environment names ``text`` (this test's tmp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in seen:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def killed(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; what is left of them at the end (the playbook in its own
    session, the sleeping stand-in) is found by this test's tmp dir and killed by pid."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in _mentioning(str(tmp_path)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _sleeper(path: Path, then: str, ready: Path) -> Path:
    """An executable that says it was reached, then sleeps long before doing ``then``:
    the moment to kill pbxops at (a timing instrument; the real tool runs afterwards)."""
    path.write_text(f"#!/bin/sh\ntouch {ready}\nsleep 300\nexec {then} \"$@\"\n")
    path.chmod(0o700)
    return path


def test_kill_9_while_publishing_leaves_no_staged_phone_file(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    settings = settings_for(tmp_path, write_book(tmp_path / "book"))
    _plant(open_workspace(settings))
    ready = tmp_path / "playbook-reached-the-host"
    python = _sleeper(tmp_path / "python-on-host", sys.executable, ready)
    script = textwrap.dedent(f"""
        import sys
        from datetime import date
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from orchestrator.phones.publish import PublishOptions
        from orchestrator.phones.service import open_workspace
        from tests.unit.phones_book import settings_for
        tmp = Path({str(tmp_path)!r})
        ws = open_workspace(settings_for(tmp, tmp / "book"))
        local = {{"ansible_connection": "local", "ansible_become": False,
                 "ansible_python_interpreter": {str(python)!r}}}
        opts = PublishOptions(connection_vars=local, provisioning_dir=str(tmp / "srv"),
                              manifest_dir=str(tmp / "manifests"))
        from orchestrator.phones.service import publish_customer
        publish_customer(ws, "acme", "tech", date(2026, 6, 1), opts, hostname="acme-pbx")
    """)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path,
                            start_new_session=True)
    killed.append(proc)
    _wait_for(ready.exists, "the playbook reaching the host")
    state = settings.state_dir
    staged = _files_with([state], [PLANTED])
    assert staged, "the staged files were expected while the playbook runs"
    os.kill(proc.pid, signal.SIGKILL)  # pbxops only; its playbook sleeps on
    proc.wait()
    _wait_for(lambda: not _files_with([state], [PLANTED]),
              f"the staged copy to go after kill -9: {staged}")
    assert not (tmp_path / "srv").exists() or not _files_with([tmp_path / "srv"], [PLANTED])


def test_a_leftover_scratch_dir_is_swept_by_the_next_command(tmp_path: Path) -> None:
    """Should the reaper be killed too: the next command's sweep removes what a dead
    process left, and never what a live one is using."""
    state = tmp_path / "state"
    with scratch_dir(state, "mine") as live:
        dead = live.parent / "999999999-1-phones-x-00"
        dead.mkdir()
        (dead / "f.cfg").write_text(PLANTED)
        assert sweep(state) == [dead]
        assert live.is_dir() and not dead.exists()
    assert not live.exists()


def test_kill_9_while_signing_leaves_no_ca_key_anywhere(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    settings = settings_for(tmp_path, write_book(tmp_path / "book"))
    ws = open_workspace(settings)
    ca.ensure_ca(ws.ledger, ws.vault, "user")
    from orchestrator.ledger.access import stored_key

    stored = stored_key(ws.ledger, "user_ca")
    assert stored is not None
    key_text = ws.vault.decrypt(stored.token).reveal()
    body = [line for line in key_text.splitlines() if line and not line.startswith("-----")]
    body = body[2:]  # the private half: the first lines are a constant header and the public key
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ready = tmp_path / "ssh-keygen-was-asked-to-sign"
    real = subprocess.run(["sh", "-c", "command -v ssh-keygen"], capture_output=True,
                          text=True, check=True).stdout.strip()
    _sleeper(bin_dir / "ssh-keygen", real, ready)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    shm_before = set(Path("/dev/shm").glob("pbxops-*"))
    script = textwrap.dedent(f"""
        import sys
        from datetime import UTC, datetime, timedelta
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from orchestrator.access import ca
        from orchestrator.ledger.access import CertificateRequest
        from orchestrator.phones.service import open_workspace
        from tests.unit.phones_book import settings_for
        tmp = Path({str(tmp_path)!r})
        ws = open_workspace(settings_for(tmp, tmp / "book"))
        now = datetime.now(UTC)
        public, _ = ca.new_key_pair("tech")
        req = CertificateRequest(kind="user", subject="tech", principals=("cust-acme",),
                                 public_key=public, valid_after=now,
                                 valid_before=now + timedelta(hours=1), customer_id="acme",
                                 contract_id=None)
        ca.sign(ws.ledger, ws.vault, req)
    """)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(private_tmp)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path,
                            start_new_session=True)
    killed.append(proc)
    _wait_for(ready.exists, "ssh-keygen being asked to sign")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    new_shm = [p for p in Path("/dev/shm").glob("pbxops-*") if p not in shm_before]
    assert new_shm == []
    leaks = _files_with([Path("/dev/shm"), private_tmp, settings.state_dir, tmp_path], body)
    assert leaks == []
