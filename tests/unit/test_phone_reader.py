"""The phone-side reader of rendered files (tests/phone_reader.py, used by the registration
lab test): every vendor's file gives back the account it was rendered with."""

from __future__ import annotations

import pytest

from orchestrator.phones.render import Credential, Renderer
from orchestrator.secrets import Redacted
from tests.phone_reader import UnreadableFile, read_account

from .phones_data import CATALOG, ENDPOINT, credentials, customer

VENDOR_FILES = {"yealink": "805ec0000001.cfg", "snom": "0004130000AB.xml",
                "poly": "64167f000003-phone.cfg", "grandstream": "cfgc074ad000004.xml"}
EXTENSIONS = {"yealink": "101", "snom": "102", "poly": "103", "grandstream": "104"}


def _files(creds: dict[str, Credential] | None = None):  # type: ignore[no-untyped-def]
    c = customer()
    return Renderer().system_files(c, c.systems[0], CATALOG, creds or credentials(c), ENDPOINT)


@pytest.mark.parametrize("vendor", sorted(VENDOR_FILES))
def test_each_vendor_file_gives_back_its_account(vendor: str) -> None:
    files = _files()
    f = files.get(VENDOR_FILES[vendor])
    assert f is not None
    account = read_account(f.name, f.content)
    ext = EXTENSIONS[vendor]
    want = credentials(customer())[ext]
    assert (account.vendor, account.server, account.port, account.transport) == (
        vendor, ENDPOINT.sip_server, 5060, "udp")
    assert (account.user, account.auth_user, account.password) == (ext, ext, want.password.reveal())


@pytest.mark.parametrize("vendor", ["snom", "poly", "grandstream"])
def test_xml_special_characters_in_a_password_reach_the_phone_unchanged(vendor: str) -> None:
    odd = 'a&b<c>"d\'e'
    creds = {ext: Credential(ext, Redacted(odd if ext == EXTENSIONS[vendor] else "plain1234"))
             for ext in EXTENSIONS.values()}
    f = _files(creds).get(VENDOR_FILES[vendor])
    assert f is not None
    assert read_account(f.name, f.content).password == odd


def test_the_reader_refuses_what_no_phone_reads() -> None:
    with pytest.raises(UnreadableFile):
        read_account("x.xml", "<other/>")
    with pytest.raises(UnreadableFile):
        read_account("x.cfg", "not xml and not yealink")


def test_the_account_never_shows_its_password_in_repr() -> None:
    f = _files().get(VENDOR_FILES["yealink"])
    assert f is not None
    assert "PLANTEDsecret" not in repr(read_account(f.name, f.content))
