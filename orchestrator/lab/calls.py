"""Hold a real SIP call on a lab PBX: INVITE, answered 200, ACK; BYE when the block ends.

The update-wave tests use it to prove a wave waits for active calls to end. The client runs
in the controller's namespace (the provider side of the lab bridge), so the call crosses the
lab network like a phone's would.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import LabError
from ..sipprobe import SIP_PORT, SipResponse, build_request, new_tag, parse_response

_TAG_RE = re.compile(r";\s*tag=([^;>\s]+)")
_URI_RE = re.compile(r"<([^>]+)>")


@dataclass(frozen=True)
class HeldCall:
    """An established call: enough to send in-dialog requests."""

    host: str
    call_id: str
    from_tag: str
    to_tag: str
    remote_target: str


def _wait_for(sock: socket.socket, call_id: str, method: str, timeout: float) -> SipResponse:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            response = parse_response(sock.recv(65535))
        except (TimeoutError, ConnectionRefusedError):
            break
        if response is None or response.headers.get("call-id") != call_id:
            continue
        if response.headers.get("cseq", "").endswith(method) and response.status >= 200:
            return response
    raise LabError(f"no final answer to {method} within {timeout:g}s")


def _invite(sock: socket.socket, host: str, port: int, timeout: float) -> HeldCall:
    local_host, local_port = sock.getsockname()[:2]
    local = (str(local_host), int(local_port))
    uri = f"sip:lab@{host}:{port}"
    call_id, from_tag = secrets.token_hex(12) + "@pbxops-lab", new_tag()
    sock.send(build_request("INVITE", uri, local, call_id=call_id, cseq=1, from_tag=from_tag))
    answer = _wait_for(sock, call_id, "INVITE", timeout)
    if answer.status != 200:
        raise LabError(f"{host} refused the call: {answer.status} {answer.reason}")
    tag = _TAG_RE.search(answer.headers.get("to", ""))
    contact = _URI_RE.search(answer.headers.get("contact", ""))
    call = HeldCall(
        host, call_id, from_tag, tag.group(1) if tag else "", contact.group(1) if contact else uri
    )
    sock.send(_in_dialog("ACK", call, local, cseq=1))
    return call


def _in_dialog(method: str, call: HeldCall, local: tuple[str, int], cseq: int) -> bytes:
    return build_request(
        method,
        call.remote_target,
        local,
        call_id=call.call_id,
        cseq=cseq,
        from_tag=call.from_tag,
        to_tag=call.to_tag,
    )


def _hang_up(sock: socket.socket, call: HeldCall, timeout: float) -> None:
    local_host, local_port = sock.getsockname()[:2]
    sock.send(_in_dialog("BYE", call, (str(local_host), int(local_port)), cseq=2))
    _wait_for(sock, call.call_id, "BYE", timeout)


@contextmanager
def hold_call(host: str, port: int = SIP_PORT, timeout: float = 5.0) -> Iterator[HeldCall]:
    """Keep one answered call open on ``host`` for the duration of the ``with`` block."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        call = _invite(sock, host, port, timeout)
        try:
            yield call
        finally:
            _hang_up(sock, call, timeout)
