"""The PBX side of phone provisioning: the SIP accounts of a system's extensions, rendered
as Asterisk PJSIP configuration (one endpoint, auth and aor per extension with a phone).

The accounts come from the same credentials as the phone files (``service.credentials_for``:
encrypted in the ledger, decrypted only to render), so a phone's file and its PBX account
can never disagree. Only profiles with a ``sip_accounts_file`` get one (real Asterisk);
FreePBX keeps its accounts in its own database and 3CX has no such file.

Asterisk's configuration syntax has no quoting: ``;`` starts a comment, a line break ends
a value, a line starting with ``[`` opens a section, ``=>``/``#`` have meanings of their
own. So nothing is escaped here: user names and passwords (which must reach the PBX
exactly as the phone sends them) are checked against a small alphabet that carries no
syntax, and anything else is refused with a message naming the system, the extension and
the field; a display name only labels the caller ID, so the characters that would carry
syntax are dropped from it. Rendering is pure and
deterministic (sorted by extension).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import RefusedError
from ..model import Customer, Phone, System
from .render import Credential, RenderedFile

# Characters that mean nothing to Asterisk's config parser inside a value. No blanks
# (values are trimmed), no ; \ " ' [ ] < > = # $ { } (comments, escapes, sections, =>,
# directives, variables), no control characters.
_SECRET_RE = re.compile(r"^[A-Za-z0-9!%*+,\-./:?@^_|~]{8,128}$")
_USER_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What a caller ID name must not carry: quotes, backslash, angle brackets, ; [ ] and
# control characters (line breaks) are removed from the display name, blanks collapsed.
_NAME_DROP = re.compile(r'["\\<>;\[\]\x00-\x1f\x7f]')
CONTEXT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
CODECS = "ulaw,alaw,g722"
CONTEXT = "pbxops-phones"  # the dialplan context calls from the phones enter


class AccountError(RefusedError):
    """A value that cannot go into the PBX's SIP configuration as it is."""


@dataclass(frozen=True)
class Account:
    extension: str
    username: str
    password: str
    display_name: str


def accounts_file(
    customer: Customer,
    system: System,
    credentials: Mapping[str, Credential],
    file_name: str,
    context: str = CONTEXT,
) -> RenderedFile:
    """The PJSIP accounts of every extension of ``system`` that has a phone; refused
    (AccountError, every problem at once) when any value would not be plain data."""
    accounts = _accounts(system, credentials, context)
    text = _render(customer, system, accounts, context)
    return RenderedFile(file_name, text, "asterisk", "pjsip-accounts")


def _accounts(
    system: System, credentials: Mapping[str, Credential], context: str
) -> list[Account]:
    problems: list[str] = []
    if not CONTEXT_RE.fullmatch(context):
        problems.append(f"dialplan context {context!r} is not a plain name")
    accounts: dict[str, Account] = {}
    for phone in sorted(system.phones, key=lambda p: p.extension):
        if phone.extension in accounts:
            continue  # two phones on one extension share its account
        found = list(_problems(system, phone, credentials))
        problems.extend(found)
        if not found:
            cred = credentials[phone.extension]
            accounts[phone.extension] = Account(
                phone.extension, cred.username, cred.password.reveal(), phone.display_name
            )
    if problems:
        raise AccountError("; ".join(problems))
    return list(accounts.values())


def _problems(
    system: System, phone: Phone, credentials: Mapping[str, Credential]
) -> Sequence[str]:
    where = f"{system.hostname}: extension {phone.extension}"
    cred = credentials.get(phone.extension)
    if cred is None:
        return [f"{where}: no SIP credentials"]
    out = []
    if not _USER_RE.fullmatch(cred.username):
        out.append(f"{where}: SIP user name {cred.username!r} is not plain letters, digits, "
                   ". _ -")
    if not _SECRET_RE.fullmatch(cred.password.reveal()):
        # never show the password itself
        out.append(f"{where}: stored SIP password has characters Asterisk's configuration "
                   "cannot carry literally (8-128 of letters, digits, ! % * + , - . / : ? @ "
                   "^ _ | ~); set a new one")
    return out


def caller_name(display_name: str) -> str:
    """The display name as a caller ID name: no character Asterisk reads as syntax."""
    return " ".join(_NAME_DROP.sub(" ", display_name).split())


def _render(customer: Customer, system: System, accounts: list[Account], context: str) -> str:
    lines = [
        f"; SIP accounts of {system.hostname} (customer {customer.id}), rendered by pbxops",
        "; from the contract book and its encrypted credentials. Changes made here are",
        "; overwritten by the next `pbxops phones publish`.",
    ]
    for a in accounts:
        lines += ["", *_sections(a, context)]
    return "\n".join(lines) + "\n"


def _sections(a: Account, context: str) -> list[str]:
    name = caller_name(a.display_name) or a.extension
    return [
        f"[{a.extension}]",
        "type=endpoint",
        f"context={context}",
        "disallow=all",
        f"allow={CODECS}",
        f"auth={a.extension}-auth",
        f"aors={a.extension}",
        f'callerid="{name}" <{a.extension}>',
        "",
        f"[{a.extension}-auth]",
        "type=auth",
        "auth_type=userpass",
        f"username={a.username}",
        f"password={a.password}",
        "",
        f"[{a.extension}]",
        "type=aor",
        "max_contacts=1",
        "remove_existing=yes",
    ]
