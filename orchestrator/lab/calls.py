"""Hold a real SIP call on a lab PBX: INVITE, answered 200, ACK; BYE when the block ends.

The update-wave tests use it to prove a wave waits for active calls to end. The client runs
in the controller's namespace (the provider side of the lab bridge), so the call crosses the
lab network like a phone's would. Against real Asterisk (``real_pbx=True``) the INVITE
carries an SDP offer (PCMU), as a phone's does, and the BYE must be answered 200: a 481
means the PBX had already cut the call.
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


def _with_sdp(request: bytes, local_host: str) -> bytes:
    """The request with an SDP offer (one PCMU audio stream) instead of an empty body."""
    body = (
        f"v=0\r\no=pbxops 1 1 IN IP4 {local_host}\r\ns=pbxops lab call\r\n"
        f"c=IN IP4 {local_host}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode()
    head = request.removesuffix(b"Content-Length: 0\r\n\r\n")
    length = f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    return head + length.encode() + body


def _invite(
    sock: socket.socket, host: str, port: int, timeout: float, sdp: bool = False
) -> HeldCall:
    local_host, local_port = sock.getsockname()[:2]
    local = (str(local_host), int(local_port))
    uri = f"sip:lab@{host}:{port}"
    call_id, from_tag = secrets.token_hex(12) + "@pbxops-lab", new_tag()
    invite = build_request("INVITE", uri, local, call_id=call_id, cseq=1, from_tag=from_tag)
    sock.send(_with_sdp(invite, local[0]) if sdp else invite)
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


def _hang_up(sock: socket.socket, call: HeldCall, timeout: float) -> SipResponse:
    local_host, local_port = sock.getsockname()[:2]
    sock.send(_in_dialog("BYE", call, (str(local_host), int(local_port)), cseq=2))
    return _wait_for(sock, call.call_id, "BYE", timeout)


@contextmanager
def hold_call(
    host: str, port: int = SIP_PORT, timeout: float = 5.0, real_pbx: bool = False
) -> Iterator[HeldCall]:
    """Keep one answered call open on ``host`` for the duration of the ``with`` block.
    ``real_pbx``: offer SDP and raise LabError when the BYE finds the call already gone."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        call = _invite(sock, host, port, timeout, sdp=real_pbx)
        try:
            yield call
        finally:
            answer = _hang_up(sock, call, timeout)
            if real_pbx and answer.status != 200:
                raise LabError(
                    f"{host} answered the BYE with {answer.status} {answer.reason}:"
                    " the call had been cut before the caller hung up"
                )
