"""The SIP OPTIONS probe against a tiny SIP responder on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from orchestrator.sipprobe import SipProbeResult, parse_response, parse_version, probe

Responder = Callable[[bytes], bytes | None]


def _answer(status: str, server: str) -> Responder:
    def respond(request: bytes) -> bytes:
        head = request.decode().split("\r\n\r\n")[0].split("\r\n")
        copied = [
            h for h in head[1:] if h.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")
        ]
        lines = [f"SIP/2.0 {status}", *copied, f"Server: {server}", "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    return respond


@pytest.fixture
def sip_server() -> Iterator[Callable[[Responder], tuple[int, list[bytes]]]]:
    sockets: list[socket.socket] = []

    def start(respond: Responder) -> tuple[int, list[bytes]]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        seen: list[bytes] = []

        def serve() -> None:
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                return
            seen.append(data)
            answer = respond(data)
            if answer:
                sock.sendto(answer, peer)

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1], seen

    yield start
    for sock in sockets:
        sock.close()


def test_200_answer_gives_status_server_and_version(sip_server) -> None:  # type: ignore[no-untyped-def]
    port, _ = sip_server(_answer("200 OK", "LabPBX 18.1.0"))
    result = probe("127.0.0.1", port, timeout=2)
    assert (result.ok, result.status, result.reason) == (True, 200, "OK")
    assert (result.server, result.version, result.error) == ("LabPBX 18.1.0", "18.1.0", None)


def test_request_is_a_well_formed_options(sip_server) -> None:  # type: ignore[no-untyped-def]
    port, seen = sip_server(_answer("200 OK", "x"))
    probe("127.0.0.1", port, timeout=2)
    head = seen[0].decode().split("\r\n")
    assert head[0] == f"OPTIONS sip:127.0.0.1:{port} SIP/2.0"
    names = {line.split(":")[0] for line in head[1:] if ":" in line}
    assert {"Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"} <= names
    via = next(line for line in head if line.startswith("Via:"))
    assert "branch=z9hG4bK" in via
    assert seen[0].endswith(b"\r\n\r\n")


def test_503_answer_is_not_ok_but_still_names_the_version(sip_server) -> None:  # type: ignore[no-untyped-def]
    port, _ = sip_server(_answer("503 Service Unavailable", "LabPBX 18.2.0"))
    result = probe("127.0.0.1", port, timeout=2)
    assert not result.ok
    assert (result.status, result.reason, result.version) == (503, "Service Unavailable", "18.2.0")


def test_silent_host_times_out_as_a_result_not_an_exception(sip_server) -> None:  # type: ignore[no-untyped-def]
    port, _ = sip_server(lambda request: None)
    result = probe("127.0.0.1", port, timeout=0.3)
    assert isinstance(result, SipProbeResult)
    assert result.status is None and not result.ok
    assert result.error == "no SIP answer within 0.3s"


def test_answer_for_another_call_is_ignored(sip_server) -> None:  # type: ignore[no-untyped-def]
    stray = b"SIP/2.0 200 OK\r\nCall-ID: someone-else\r\nCSeq: 1 OPTIONS\r\n\r\n"
    port, _ = sip_server(lambda request: stray)
    assert probe("127.0.0.1", port, timeout=0.3).status is None


def test_refused_port_is_a_result() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = probe("127.0.0.1", port, timeout=0.5)
    assert result.status is None and result.error


def test_unparseable_datagram_is_not_a_response() -> None:
    assert parse_response(b"garbage") is None


def test_response_headers_are_lower_cased() -> None:
    response = parse_response(b"SIP/2.0 200 OK\r\nUser-Agent: LabPBX 19.0.0\r\n\r\n")
    assert response is not None and response.headers["user-agent"] == "LabPBX 19.0.0"


@pytest.mark.parametrize(
    ("server", "version"),
    [
        ("LabPBX 18.1.0", "18.1.0"),
        ("Asterisk PBX 20.5.2", "20.5.2"),
        ("FPBX-16.0.40(18.9.0)", "16.0.40"),
        ("kamailio", None),
    ],
)
def test_version_is_the_first_dotted_number(server: str, version: str | None) -> None:
    assert parse_version(server) == version
