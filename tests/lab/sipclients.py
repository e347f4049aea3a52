"""Real SIP clients from Debian for the registration lab tests, run on the controller side
of the lab bridge: sipsak for one REGISTER with its final status, baresip as a phone that
stays registered (refreshes its registration and answers the PBX's requests).

The account comes from a rendered phone file read as the phone would
(``tests/phone_reader.py``). sipsak takes the password as an argument (visible in the
controller's process list while it runs: lab credentials only); baresip reads it from a
0600 file in a 0700 directory removed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.phone_reader import PhoneAccount

_STATUS = re.compile(r"^SIP/2\.0 (\d{3})", re.M)


@dataclass(frozen=True)
class Registration:
    status: int  # the last SIP status the registrar answered (0: none)
    rc: int  # sipsak's exit code (0: registered)
    output: str


def sipsak_register(account: PhoneAccount, local_ip: str, local_port: int, *,
                    password: str | None = None, expires: int = 120) -> Registration:
    """One REGISTER (answering the digest challenge) of ``account`` with contact
    ``local_ip:local_port``; the final status the PBX answered."""
    argv = ["sipsak", "-U", "-i", "-vvv",
            "-s", f"sip:{account.user}@{account.server}:{account.port}",
            "-u", account.auth_user, "-a", account.password if password is None else password,
            "-C", f"sip:{account.user}@{local_ip}:{local_port}", "-x", str(expires),
            "-l", str(local_port), "-H", local_ip]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    statuses = _STATUS.findall(output)
    return Registration(int(statuses[-1]) if statuses else 0, done.returncode, output)


@contextmanager
def baresip(accounts: list[PhoneAccount], local_ip: str, local_port: int,
            regint: int = 60) -> Iterator[subprocess.Popen[str]]:
    """baresip registered with every account (one user agent per account, one SIP socket),
    refreshing every ``regint`` seconds, until the block ends (then stopped by its pid)."""
    home = Path(tempfile.mkdtemp(prefix="pbxops-baresip-"))
    os.chmod(home, 0o700)
    try:
        (home / "config").write_text(
            "poll_method\tepoll\n"
            f"sip_listen\t{local_ip}:{local_port}\n"
            "module_path\t/usr/lib/baresip/modules\n"
            "module_app\taccount.so\n")
        fd = os.open(home / "accounts", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            for a in accounts:
                fh.write(f"<sip:{a.user}@{a.server}:{a.port};transport={a.transport}>"
                         f";auth_user={a.auth_user};auth_pass={a.password};regint={regint}\n")
        proc = subprocess.Popen(["baresip", "-f", str(home)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        shutil.rmtree(home, ignore_errors=True)
