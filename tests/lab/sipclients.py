"""SIP clients for the registration lab tests, run on the controller side of the lab
bridge: ``register`` sends one REGISTER over real UDP to the real Asterisk, answers its
digest challenge and reports the final status; baresip (Debian's) is a phone that stays
registered (refreshes its registration and answers the PBX's requests).

The account comes from a rendered phone file read as the phone would
(``tests/phone_reader.py``). Neither puts the password on a command line: ``register`` is
Python in this process (it computes the RFC 2617 MD5 digest itself), baresip reads the
password from a 0600 file in a 0700 directory removed afterwards. Debian's sipsak was the
REGISTER client before: it takes the password only as an argument (``-a``, visible in the
process list) or, with ``-a -``, from standard input, which it cuts at 19 characters
(pbxops' SIP passwords have 20), and ``--authhash`` would put the password-equivalent
H(A1) on the command line instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.sipprobe import SipResponse, new_branch, new_tag, parse_response
from tests.phone_reader import PhoneAccount

T1, T2 = 0.5, 4.0  # RFC 3261 retransmission timers of a non-INVITE request over UDP
_PARAM = re.compile(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@dataclass(frozen=True)
class Registration:
    status: int  # the final SIP status the registrar answered (0: none)
    output: str  # the requests sent and the answers received (digest responses, no password)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_params(challenge: str) -> dict[str, str]:
    """The parameters of a ``Digest ...`` challenge (names lower-cased)."""
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(challenge.split(None, 1)[1] if " " in challenge else "")}


def digest_response(params: dict[str, str], method: str, uri: str, username: str,
                    password: str, cnonce: str, nc: str = "00000001") -> str:
    """RFC 2617's ``response`` for MD5, with ``qop=auth`` when the challenge offers it."""
    ha1 = _md5(f"{username}:{params['realm']}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        return _md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return _md5(f"{ha1}:{params['nonce']}:{ha2}")


def authorization(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    """The Authorization header value answering one MD5 ``Digest`` challenge."""
    params = digest_params(challenge)
    if params.get("algorithm", "MD5").upper() != "MD5":
        raise ValueError(f"not an MD5 digest challenge: {challenge}")
    cnonce = secrets.token_hex(8)
    value = (f'Digest username="{username}", realm="{params["realm"]}", '
             f'nonce="{params["nonce"]}", uri="{uri}", algorithm=MD5, response="'
             f'{digest_response(params, method, uri, username, password, cnonce)}"')
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        value += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


def _challenge(data: bytes, header: str) -> str:
    """The MD5 digest challenge among the response's ``header`` lines ('' when none)."""
    head = data.decode("utf-8", errors="replace").split("\r\n\r\n", 1)[0]
    offers = [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
              if line.lower().startswith(header + ":")]
    md5 = [c for c in offers if c.lower().startswith("digest")
           and digest_params(c).get("algorithm", "MD5").upper() == "MD5"]
    return md5[0] if md5 else ""


class _Register:
    """One REGISTER dialog: same Call-ID and tag, CSeq counting up, a new branch each."""

    def __init__(self, account: PhoneAccount, local: tuple[str, int], expires: int) -> None:
        self.account, self.local, self.expires = account, local, expires
        self.uri = f"sip:{account.server}:{account.port}"
        self.call_id = secrets.token_hex(12) + "@pbxops-lab"
        self.tag = new_tag()
        self.cseq = 0

    def request(self, auth: str | None = None) -> bytes:
        """The next REGISTER; ``auth``: its (Proxy-)Authorization header line."""
        self.cseq += 1
        a, (ip, port) = self.account, self.local
        aor = f"<sip:{a.user}@{a.server}:{a.port}>"
        lines = [
            f"REGISTER {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {ip}:{port};branch={new_branch()};rport",
            "Max-Forwards: 70",
            f"From: {aor};tag={self.tag}",
            f"To: {aor}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <sip:{a.user}@{ip}:{port}>",
            f"Expires: {self.expires}",
            "User-Agent: pbxops-lab-register",
            *([auth] if auth else []),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def answers(self, response: SipResponse) -> bool:
        return (response.headers.get("call-id") == self.call_id
                and response.headers.get("cseq", "").split()[:1] == [str(self.cseq)])


def _transaction(sock: socket.socket, target: tuple[str, int], dialog: _Register,
                 request: bytes, log: list[str]) -> tuple[SipResponse, bytes] | None:
    """Send ``request`` (retransmitted on RFC 3261's timers) until its final answer, or
    None after 64*T1 without one."""
    log.append("sent:\n" + request.decode())
    deadline = time.monotonic() + 64 * T1
    interval, resend = T1, time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() >= resend:
            sock.sendto(request, target)
            resend, interval = time.monotonic() + interval, min(2 * interval, T2)
        sock.settimeout(max(0.01, min(resend, deadline) - time.monotonic()))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        response = parse_response(data)
        if response is not None and dialog.answers(response):
            log.append("received:\n" + data.decode("utf-8", errors="replace"))
            if response.status >= 200:
                return response, data
    log.append(f"no final answer within {64 * T1:g} s")
    return None


def register(account: PhoneAccount, local_ip: str, local_port: int, *,
             password: str | None = None, expires: int = 120) -> Registration:
    """One REGISTER of ``account`` with contact ``local_ip:local_port`` (``expires=0``:
    unregister that contact), answering one digest challenge (401 or 407) with
    ``password`` (default: the account's); the final status the PBX answered. A second
    challenge is the final answer (a wrong password)."""
    dialog = _Register(account, (local_ip, local_port), expires)
    target = (account.server, account.port)
    log: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((local_ip, local_port))
        got = _transaction(sock, target, dialog, dialog.request(), log)
        if got is not None and got[0].status in (401, 407):
            proxy = got[0].status == 407
            challenge = _challenge(got[1], "proxy-authenticate" if proxy else "www-authenticate")
            if challenge:
                auth = authorization(challenge, "REGISTER", dialog.uri, account.auth_user,
                                     account.password if password is None else password)
                line = f"{'Proxy-Authorization' if proxy else 'Authorization'}: {auth}"
                got = _transaction(sock, target, dialog, dialog.request(line), log)
    return Registration(got[0].status if got else 0, "\n".join(log))


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
