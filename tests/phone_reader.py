"""Read a rendered phone file as the phone would: the SIP server, port, transport, user,
auth user and password of its first account. Test and lab support (the registration lab
test registers a real SIP client with what this reads), not product code.

Independent of the templates on purpose: it follows each vendor's documented format, so a
template that writes a key the phone does not read (or escapes a value the phone would
read literally) fails here.

- Yealink ``<mac>.cfg``: ``key = value`` lines; a line starting with ``#`` is a comment;
  the value is the rest of the line after the first ``=``, blanks trimmed (no inline
  comments, no quoting). Account 1: ``account.1.user_name``, ``auth_name``, ``password``,
  ``sip_server.1.address``/``port``/``transport_type`` (0 UDP, 1 TCP, 2 TLS).
- Snom ``<MAC>.xml``: ``<settings><phone-settings>`` elements with ``idx="1"``:
  ``user_name``, ``user_pname`` (auth), ``user_pass``, ``user_host`` ("host[:port][;transport=x]").
- Poly ``<mac>-phone.cfg``: attributes ``reg.1.address``, ``reg.1.auth.userId``,
  ``reg.1.auth.password``, ``reg.1.server.1.address``/``port``/``transport``.
- Grandstream ``cfg<mac>.xml``: P-values ``P47`` server ("host[:port]"), ``P35`` user,
  ``P36`` auth id, ``P34`` password, ``P130`` transport (0 UDP, 1 TCP, 2 TLS).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_NUMBERED_TRANSPORTS = {"0": "udp", "1": "tcp", "2": "tls"}
_POLY_TRANSPORTS = {"UDPOnly": "udp", "TCPOnly": "tcp", "TLS": "tls"}


class UnreadableFile(ValueError):
    """The file is not one a phone of a known vendor would read an account from."""


@dataclass(frozen=True)
class PhoneAccount:
    vendor: str
    server: str
    port: int
    transport: str
    user: str
    auth_user: str
    password: str = field(repr=False)


def read_account(name: str, content: str) -> PhoneAccount:
    """The first SIP account of a rendered phone file (by its content, as phones do not
    care about names beyond fetching them)."""
    if content.startswith("#!version:"):
        return _yealink(content)
    try:
        root = ET.fromstring(content.encode())
    except ET.ParseError as exc:
        raise UnreadableFile(f"{name}: neither a Yealink .cfg nor XML: {exc}") from exc
    readers = {"settings": _snom, "polycomConfig": _poly, "gs_provision": _grandstream}
    if root.tag not in readers:
        raise UnreadableFile(f"{name}: XML root <{root.tag}> is no phone format known here")
    return readers[root.tag](root)


def _host_port(value: str, default_port: int = 5060) -> tuple[str, int]:
    host, _, port = value.partition(":")
    return host, int(port) if port else default_port


def _yealink(content: str) -> PhoneAccount:
    values: dict[str, str] = {}
    for line in content.splitlines():
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    if values.get("account.1.enable", "1") != "1":
        raise UnreadableFile("Yealink account 1 is disabled")
    prefix = "account.1."
    return PhoneAccount(
        vendor="yealink",
        server=values[prefix + "sip_server.1.address"],
        port=int(values.get(prefix + "sip_server.1.port", "5060")),
        transport=_NUMBERED_TRANSPORTS[values.get(prefix + "sip_server.1.transport_type", "0")],
        user=values[prefix + "user_name"],
        auth_user=values.get(prefix + "auth_name") or values[prefix + "user_name"],
        password=values[prefix + "password"],
    )


def _snom(root: ET.Element) -> PhoneAccount:
    settings = root.find("phone-settings")
    if settings is None:
        raise UnreadableFile("Snom file without <phone-settings>")

    def get(tag: str) -> str:
        for el in settings.findall(tag):
            if el.get("idx", "1") == "1":
                return el.text or ""
        return ""

    host, _, params = get("user_host").partition(";")
    server, port = _host_port(host)
    transport = next((p.split("=", 1)[1] for p in params.split(";") if p.startswith("transport=")),
                     "udp")
    return PhoneAccount("snom", server, port, transport, get("user_name"),
                        get("user_pname") or get("user_name"), get("user_pass"))


def _poly(root: ET.Element) -> PhoneAccount:
    attrs: dict[str, str] = {}
    for el in root.iter():
        attrs.update(el.attrib)
    return PhoneAccount(
        vendor="poly",
        server=attrs["reg.1.server.1.address"],
        port=int(attrs.get("reg.1.server.1.port", "5060")),
        transport=_POLY_TRANSPORTS.get(attrs.get("reg.1.server.1.transport", "UDPOnly"), "udp"),
        user=attrs["reg.1.address"],
        auth_user=attrs.get("reg.1.auth.userId") or attrs["reg.1.address"],
        password=attrs["reg.1.auth.password"],
    )


def _grandstream(root: ET.Element) -> PhoneAccount:
    config = root.find("config")
    if config is None:
        raise UnreadableFile("Grandstream file without <config>")
    p = {el.tag: el.text or "" for el in config}
    server, port = _host_port(p["P47"])
    return PhoneAccount("grandstream", server, port, _NUMBERED_TRANSPORTS[p.get("P130", "0")],
                        p["P35"], p.get("P36") or p["P35"], p["P34"])
