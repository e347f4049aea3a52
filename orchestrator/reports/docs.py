"""Customer documentation for technician hand-over: one Markdown and one HTML page per
customer from the book and the ledger (``templates/docs/``).

Only what a technician may read goes in: no keys, passwords or tokens. The context is built
from named fields, never by dumping ledger details, so nothing secret can slip through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2

from ..fleet import Fleet
from ..ledger import Ledger
from ..ledger import sla as store
from ..ledger.sla import HourBooking
from ..ledger.versions import VerifiedVersion, last_verified
from ..model import Customer, Sla, System, active_sla, entitlement
from ..sla import channels
from ..sla.hours import balances
from ..sla.terms import terms_for

RECENT = 10


@dataclass(frozen=True)
class Rendered:
    markdown: Path
    html: Path


NEVER_CHECKED = "unknown (never checked by pbxops)"


def _installed(found: VerifiedVersion | None, customer: Customer) -> str:
    """The installed version as pbxops last verified it, with when and how."""
    if found is None:
        return NEVER_CHECKED
    return f"{found.version} (verified {_local(found.at, customer)} by update wave {found.wave_id})"


def _system(
    customer: Customer, s: System, day: date, verified: dict[tuple[str, str], VerifiedVersion]
) -> dict[str, Any]:
    ent = entitlement(customer, s, day)
    sla = active_sla(customer, s.hostname, day)
    return {
        "hostname": s.hostname,
        "address": str(s.address),
        "site": s.site,
        "platform": s.platform,
        "deployment": s.deployment,
        "os_release": s.os_release,
        "pbx_version": _installed(verified.get((s.hostname, "pbx")), customer),
        "os_version": _installed(verified.get((s.hostname, "os")), customer),
        "extensions": s.extensions,
        "licences": ", ".join(f"{lic.count} {lic.kind}" for lic in s.licences) or "-",
        "window": ", ".join(s.maintenance_window.slots),
        "updates": ent.reason,
        "sla": f"{sla.tier} {sla.reaction_hours:g} h ({sla.hours_basis})" if sla else "none",
        "phones": [
            {
                "extension": p.extension,
                "name": p.display_name,
                "vendor": p.vendor,
                "model": p.model,
                "mac": p.mac,
            }
            for p in sorted(s.phones, key=lambda p: p.extension)
        ],
    }


def _contract(k: Any, day: date) -> dict[str, Any]:
    terms = ""
    if isinstance(k, Sla):
        hours = f", business hours {', '.join(k.business_hours)}" if k.hours_basis != "24x7" else ""
        terms = f"{k.tier}, reaction {k.reaction_hours:g} h {k.hours_basis}{hours}"
    elif k.kind == "hour_package":
        terms = f"{k.hours:g} h"
    return {
        "id": k.id,
        "kind": k.kind,
        "start": k.start,
        "end": k.end or "open-ended",
        "active": k.active_on(day),
        "terms": terms,
    }


def _remote_access(customer: Customer, day: date) -> list[str]:
    has = any(
        isinstance(k, Sla) and k.remote_access and k.active_on(day) for k in customer.contracts
    )
    if not has:
        return ["No remote access contracted: work on site or by the customer's own access."]
    return [
        MarkdownText(
            "Connect through the provider's WireGuard hub; the customer's edge router or PBX "
            "is a spoke with its own tunnel address (see `pbxops access --help`)."
        ),
        "Log in as the ops user with a short-lived SSH certificate issued by pbxops; "
        "certificates expire on their own and are revoked with the customer's access.",
        "Credentials are never written into this document: ask the on-duty technician.",
    ]


def _local(moment: datetime | None, customer: Customer) -> str:
    return f"{moment.astimezone(customer.tz):%Y-%m-%d %H:%M}" if moment else ""


def _work(bookings: list[HourBooking], customer: Customer) -> list[dict[str, Any]]:
    return [
        {
            "at": _local(b.at, customer),
            "hours": f"{b.hours:g}",
            "billing": b.billing.value,
            "reason": b.reason,
            "incident": f"INC-{b.incident_id:06d}" if b.incident_id else "-",
            "text": b.text,
        }
        for b in reversed(bookings)
    ]


def context(fleet: Fleet, ledger: Ledger, customer_id: str, now: datetime) -> dict[str, Any]:
    customer = fleet.customer(customer_id)
    day = now.astimezone(customer.tz).date()
    waves = ledger.actions(customer_id=customer.id, kind_prefix="wave.")[-RECENT:]
    access = ledger.actions(customer_id=customer.id, kind_prefix="access.")[-RECENT:]
    incidents = store.incidents(ledger, customer.id)[-RECENT:]
    terms = terms_for(customer, None, now)
    verified = last_verified(ledger, (s.hostname for s in customer.systems))
    return {
        "customer": customer,
        "generated": now.astimezone(customer.tz).strftime("%Y-%m-%d %H:%M %Z"),
        "contacts": customer.contacts,
        "sites": customer.sites,
        "systems": [_system(customer, s, day, verified) for s in customer.systems],
        "contracts": [_contract(k, day) for k in customer.contracts],
        "reaction": f"{terms.reaction_hours:g} h ({terms.basis})"
        + (f" under {terms.contract}" if terms.tier else " (no SLA: default)"),
        "support": channels.for_docs(
            channels.channels_of(customer, terms.contract), fleet.technicians
        ),
        "remote_access": _remote_access(customer, day),
        "waves": [
            {
                "at": _local(a.at, customer),
                "host": a.host or "",
                "summary": a.summary,
                "outcome": a.outcome,
            }
            for a in reversed(waves)
        ],
        "access": [{"at": _local(a.at, customer), "summary": a.summary} for a in reversed(access)],
        "incidents": [
            {
                "ticket": i.ticket,
                "opened": _local(i.opened_at, customer),
                "title": i.title,
                "state": i.state,
                "deadline": _local(i.deadline, customer),
                "cause": i.cause or "",
                "coverage": i.coverage or "",
            }
            for i in reversed(incidents)
        ],
        "work": _work(store.bookings(ledger, customer.id)[-RECENT:], customer),
        "balances": balances(fleet, ledger, customer.id, day),
    }


class MarkdownText(str):
    """Markdown written by pbxops itself: goes into the Markdown page as it is (the HTML
    page escapes it like any other text)."""


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # code, emphasis, links/images, table cells
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # only an & that would start an entity
_MD_BLOCK = re.compile(r"^(\s*)([-+](?=\s|$)|#)")  # a value opening a list item or heading
_MD_ORDERED = re.compile(r"^(\s*[0-9]+)([.)])(?=\s|$)")  # "1. x" -> "1\. x"


def markdown_escape(value: Any) -> str:
    """Book or ledger text as literal Markdown: no HTML, links, emphasis, code, table cells,
    list items, headings or line breaks of its own."""
    if isinstance(value, MarkdownText):
        return str(value)
    text = " ".join(str(value).splitlines())
    text = _MD_ENTITY.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_BLOCK.sub(r"\1\\\2", text)
    return _MD_ORDERED.sub(r"\1\\\2", text)


def _env(templates: Path, html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=html,
        finalize=None if html else markdown_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(ctx: dict[str, Any], templates: Path) -> tuple[str, str]:
    """(Markdown, HTML) of one customer's page."""
    md = _env(templates, html=False).get_template("customer.md.j2").render(**ctx)
    html = _env(templates, html=True).get_template("customer.html.j2").render(**ctx)
    return md, html


def write_docs(
    fleet: Fleet, ledger: Ledger, customer_id: str, now: datetime, templates: Path, out: Path
) -> Rendered:
    from ..fsutil import atomic_write

    md, html = render(context(fleet, ledger, customer_id, now), templates)
    paths = Rendered(out / f"{customer_id}.md", out / f"{customer_id}.html")
    atomic_write(paths.markdown, md)
    atomic_write(paths.html, html)
    return paths
