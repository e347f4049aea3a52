"""A SIP OPTIONS health probe over UDP, in pure Python (RFC 3261 message format).

``probe(address)`` sends one OPTIONS request and returns a frozen :class:`SipProbeResult`:
status code and reason, the ``Server``/``User-Agent`` header and the PBX version parsed from
it. A host that does not answer gives ``status=None`` and ``error`` set; the probe never
raises for network trouble, so a caller can probe a whole fleet and read the results.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass, field

SIP_PORT = 5060
_VERSION_RE = re.compile(r"(\d+(?:\.\d+)+)")
_STATUS_RE = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")


@dataclass(frozen=True)
class SipProbeResult:
    """What one OPTIONS request learned about a host."""

    host: str
    port: int
    status: int | None
    reason: str = ""
    server: str = ""
    version: str | None = None
    error: str | None = None
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the host answered ``200``."""
        return self.status == 200


@dataclass(frozen=True)
class SipResponse:
    """A parsed SIP response: status line and headers (names lower-cased, first value wins)."""

    status: int
    reason: str
    headers: dict[str, str]


def new_branch() -> str:
    """A Via branch with the RFC 3261 magic cookie."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def build_request(
    method: str,
    uri: str,
    local: tuple[str, int],
    *,
    call_id: str,
    cseq: int,
    from_tag: str,
    to_tag: str | None = None,
    branch: str | None = None,
    extra: tuple[str, ...] = (),
) -> bytes:
    """Encode a SIP request with the mandatory headers and an empty body."""
    host, port = local
    to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch or new_branch()};rport",
        "Max-Forwards: 70",
        f"From: <sip:pbxops@{host}>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:pbxops@{host}:{port}>",
        "User-Agent: pbxops-sipprobe",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(data: bytes) -> SipResponse | None:
    """Parse a SIP response; ``None`` when the datagram is not one."""
    text = data.decode("utf-8", errors="replace")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    match = _STATUS_RE.match(lines[0])
    if match is None:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return SipResponse(int(match.group(1)), match.group(2).strip(), headers)


def parse_version(server: str) -> str | None:
    """The first dotted version number in a Server/User-Agent value (``LabPBX 18.1.0``)."""
    match = _VERSION_RE.search(server)
    return match.group(1) if match else None


def _local_address(sock: socket.socket, target: tuple[str, int]) -> tuple[str, int]:
    sock.connect(target)
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _await_final(sock: socket.socket, call_id: str, deadline: float) -> SipResponse | None:
    """Read datagrams until a final (>=200) response for ``call_id`` or the deadline."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return None
        response = parse_response(data)
        if response and response.headers.get("call-id") == call_id and response.status >= 200:
            return response
    return None


def probe(
    host: str, port: int = SIP_PORT, timeout: float = 2.0, bind: str | None = None
) -> SipProbeResult:
    """Send one SIP OPTIONS to ``host:port`` and report the answer (never raises on network
    trouble: a timeout, refusal or unreachable host is a result with ``error`` set)."""
    started = time.monotonic()
    call_id = secrets.token_hex(12) + "@pbxops"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((bind or "", 0))
            local = _local_address(sock, (host, port))
            request = build_request(
                "OPTIONS", f"sip:{host}:{port}", local, call_id=call_id, cseq=1, from_tag=new_tag()
            )
            sock.send(request)
            response = _await_final(sock, call_id, started + timeout)
    except OSError as exc:
        return _failed(host, port, started, f"{type(exc).__name__}: {exc.strerror or exc}")
    if response is None:
        return _failed(host, port, started, f"no SIP answer within {timeout:g}s")
    server = response.headers.get("server") or response.headers.get("user-agent", "")
    return SipProbeResult(
        host=host,
        port=port,
        status=response.status,
        reason=response.reason,
        server=server,
        version=parse_version(server),
        elapsed_ms=_ms_since(started),
        headers=response.headers,
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _failed(host: str, port: int, started: float, error: str) -> SipProbeResult:
    return SipProbeResult(
        host=host, port=port, status=None, error=error, elapsed_ms=_ms_since(started)
    )
