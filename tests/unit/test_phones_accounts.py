"""The PBX's SIP accounts (PJSIP endpoint/auth/aor per extension) rendered from the same
credentials as the phone files; read back with Asterisk's own parsing rules, so an attempt
to inject configuration through the book or the ledger shows as an extra section or key."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.phones.accounts import AccountError, accounts_file, caller_name
from orchestrator.phones.publish import ACCOUNTS_STAGED, PublishOptions, _write_private, extravars
from orchestrator.phones.render import Credential
from orchestrator.phones.service import open_workspace, render_customer
from orchestrator.secrets import Redacted

from .phones_book import settings_for, write_book
from .phones_data import customer

Sections = list[tuple[str, dict[str, str]]]


def parse_asterisk_conf(text: str) -> tuple[Sections, list[str]]:
    """Sections and directives as Asterisk's config parser reads them: ``;`` starts a comment
    unless escaped, ``[name]`` opens a section, ``#`` lines are directives, ``name=value``
    or ``name => value`` with blanks trimmed."""
    sections: Sections = []
    directives: list[str] = []
    for raw in text.split("\n"):
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("#"):
            directives.append(line)
        elif line.startswith("["):
            sections.append((line[1:line.index("]")], {}))
        else:
            key, _, value = line.partition("=")
            assert sections, f"key outside a section: {raw!r}"
            sections[-1][1][key.strip()] = value.removeprefix(">").strip()
    return sections, directives


def _creds(passwords: dict[str, str] | None = None) -> dict[str, Credential]:
    c = customer()
    pw = passwords or {}
    return {p.extension: Credential(p.extension, Redacted(pw.get(p.extension, f"Secret{p.extension}xyz")))
            for p in c.systems[0].phones}


def _render(passwords: dict[str, str] | None = None, **changes: object) -> str:
    c = customer(**changes)
    return accounts_file(c, c.systems[0], _creds(passwords), "pbxops-accounts.conf").content


def test_one_endpoint_auth_and_aor_per_extension() -> None:
    sections, directives = parse_asterisk_conf(_render())
    assert directives == []
    by_type = {(name, keys["type"]): keys for name, keys in sections}
    assert len(by_type) == len(sections) == 12
    for ext in ("101", "102", "103", "104"):
        endpoint = by_type[(ext, "endpoint")]
        assert endpoint["auth"] == f"{ext}-auth" and endpoint["aors"] == ext
        assert endpoint["context"] == "pbxops-phones" and endpoint["disallow"] == "all"
        auth = by_type[(f"{ext}-auth", "auth")]
        assert auth == {"type": "auth", "auth_type": "userpass", "username": ext,
                        "password": f"Secret{ext}xyz"}
        assert by_type[(ext, "aor")]["max_contacts"] == "1"
    # names from the book lose what Asterisk reads as syntax, keep the rest
    assert by_type[("102", "endpoint")]["callerid"] == '"Ben B&B Bauer" <102>'
    assert by_type[("101", "endpoint")]["callerid"] == '"Anna Öztürk" <101>'


def test_rendering_is_deterministic() -> None:
    assert _render() == _render()


@pytest.mark.parametrize("password", [
    "good;password", "pass\n[evil]\ntype=endpoint", "pw[section]x", "has blank", "q\"uote",
    "back\\slash", ">leadingarrow", "dollar${x}", "#include x", "short", "tab\tbed0",
])
def test_a_password_that_would_carry_syntax_is_refused_without_showing_it(password: str) -> None:
    with pytest.raises(AccountError) as exc:
        _render({"102": password})
    message = str(exc.value)
    assert "acme-pbx: extension 102: stored SIP password" in message
    assert password not in message and "[evil]" not in message


@pytest.mark.parametrize("username", ["102;x", "102\n[evil]", "10 2", "a]b", ""])
def test_a_user_name_that_would_carry_syntax_is_refused(username: str) -> None:
    c = customer()
    creds = _creds()
    creds["103"] = Credential(username, Redacted("Secret103xyz"))
    with pytest.raises(AccountError, match="acme-pbx: extension 103: SIP user name"):
        accounts_file(c, c.systems[0], creds, "pbxops-accounts.conf")


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(AccountError) as exc:
        _render({"101": "a;b", "104": "x\ny"})
    assert "extension 101" in str(exc.value) and "extension 104" in str(exc.value)


def test_no_credentials_for_a_phone_is_refused() -> None:
    c = customer()
    creds = _creds()
    del creds["104"]
    with pytest.raises(AccountError, match="extension 104: no SIP credentials"):
        accounts_file(c, c.systems[0], creds, "pbxops-accounts.conf")


def _with_display_name(name: str) -> str:
    data = customer().model_dump(mode="json")
    data["systems"][0]["phones"][0]["display_name"] = name
    return _render(systems=data["systems"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_no_display_name_adds_a_section_a_key_or_a_directive(name: str) -> None:
    sections, directives = parse_asterisk_conf(_with_display_name(name))
    assert directives == [] and len(sections) == 12
    assert [sorted(k) for n, k in sections] == [sorted(k) for n, k in parse_asterisk_conf(_render())[0]]
    endpoint = next(k for n, k in sections if n == "101" and k["type"] == "endpoint")
    assert endpoint["callerid"] == f'"{caller_name(name) or "101"}" <101>'


PASSWORD_CHARS = r"[A-Za-z0-9!%*+,\-./:?@^_|~]"  # what accounts.py documents as accepted
ACCEPTED = st.from_regex(rf"{PASSWORD_CHARS}{{8,128}}", fullmatch=True)
REFUSED = st.one_of(
    st.from_regex(rf"{PASSWORD_CHARS}{{1,7}}", fullmatch=True),  # too short
    st.from_regex(rf"{PASSWORD_CHARS}{{129,140}}", fullmatch=True),  # too long
    st.tuples(ACCEPTED, st.text(min_size=1, max_size=3).filter(  # a character outside it
        lambda t: not re.fullmatch(rf"{PASSWORD_CHARS}*", t)), st.integers(0, 128)).map(
        lambda a: a[0][: a[2]] + a[1] + a[0][a[2]:]),
    ACCEPTED.map(lambda p: p + "\n"),  # a trailing newline (``$`` alone would let it in)
)


@settings(max_examples=100, deadline=None)
@given(ACCEPTED)
def test_an_accepted_password_is_read_back_exactly(password: str) -> None:
    sections, directives = parse_asterisk_conf(_render({"101": password}))
    assert directives == [] and len(sections) == 12
    auth = next(k for n, k in sections if n == "101-auth")
    assert auth["password"] == password


@settings(max_examples=100, deadline=None)
@given(REFUSED)
def test_a_password_outside_the_alphabet_or_length_is_refused(password: str) -> None:
    with pytest.raises(AccountError):
        _render({"101": password})


def test_an_asterisk_pbx_gets_its_accounts_from_the_phone_files_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBXOPS_SECRET_KEY", "P5a4EXRLWqUsxPVW0Jv5hEVNjPe3ysTSvqsdE8O0r_s=")
    ws = open_workspace(settings_for(tmp_path, write_book(tmp_path / "book", pbx_profile="asterisk")))
    [host] = render_customer(ws, "acme")
    assert host.accounts is not None and host.accounts_dest == "/etc/asterisk/pbxops-accounts.conf"
    auths = {k["username"]: k["password"] for _, k in parse_asterisk_conf(host.accounts.content)[0]
             if k["type"] == "auth"}
    yealink = host.files.get("805ec0000001.cfg")
    assert yealink is not None
    assert f"account.1.password = {auths['101']}\n" in yealink.content  # one source of truth
    assert set(auths.values()) == set(host.files.secrets)

    staging = tmp_path / "staging"
    _write_private(staging, host.files, host.accounts)  # what a publish stages
    staged = staging / ACCOUNTS_STAGED
    assert staged.read_text() == host.accounts.content
    assert stat.S_IMODE(staged.stat().st_mode) == 0o600
    ev = extravars(host.target(), staging, PublishOptions())
    assert ev["phone_provisioning_accounts_src"] == ACCOUNTS_STAGED
    assert ev["phone_provisioning_accounts_extensions"] == ["101", "102", "103", "104"]
    assert ACCOUNTS_STAGED not in ev["phone_provisioning_files"]  # never served over HTTP
    assert not any(secret in repr(ev) for secret in host.files.secrets)


def test_a_stand_in_pbx_gets_no_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBXOPS_SECRET_KEY", "P5a4EXRLWqUsxPVW0Jv5hEVNjPe3ysTSvqsdE8O0r_s=")
    ws = open_workspace(settings_for(tmp_path, write_book(tmp_path / "book")))
    [host] = render_customer(ws, "acme")
    assert host.accounts is None
    ev = extravars(host.target(), tmp_path, PublishOptions())
    assert "phone_provisioning_accounts_src" not in ev
