"""Settings-level entry points of the SLA service for the CLI: open the book and ledger,
build the mailer, pick the SSH config; each function is one use case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..context import actor_of, open_context, open_ledger
from ..errors import RefusedError
from ..fleet import Fleet
from ..health.service import SweepOutcome, run_sweep
from ..health.sweep import SweepOptions
from ..ledger import Ledger
from ..ledger import sla as store
from ..ledger.sla import HourBooking, Incident
from ..reports import docs as docs_mod
from ..reports import history as history_mod
from ..reports import pricing as pricing_mod
from ..settings import Settings
from . import hours as hours_mod
from . import incidents as incidents_mod
from . import report as report_mod
from .notify import Mailer


def now() -> datetime:
    return datetime.now(UTC)


def actor() -> str:
    """Who acts: the one rule of ``context.actor_of`` (PBXOPS_ACTOR > SUDO_USER > login)."""
    return actor_of()


def _open(settings: Settings, *, readonly: bool = False) -> tuple[Fleet, Ledger]:
    """Book and ledger as every command opens them (``orchestrator.context``)."""
    ctx = open_context(settings, readonly=readonly)
    return ctx.fleet, ctx.ledger


def mailer(settings: Settings) -> Mailer:
    return Mailer(settings.smtp_host, settings.smtp_port, settings.ops_email)


def default_ssh_config(settings: Settings) -> Path | None:
    """The ``ssh_config`` setting (the lab's when a lab is up and none is set: one rule in
    settings.load_settings), else None (the user's own SSH config)."""
    return Path(settings.ssh_config) if settings.ssh_config is not None else None


def health_sweep(
    settings: Settings,
    opts: SweepOptions,
    customers: tuple[str, ...],
    textfile: Path | None,
    incidents: bool,
    mail: bool,
) -> SweepOutcome:
    fleet = open_context(settings).fleet
    waves = open_ledger(settings, readonly=not incidents)  # the waves that make a release due, also report-only
    return run_sweep(
        fleet,
        waves if incidents else None,
        mailer(settings) if mail else None,
        opts,
        customers,
        textfile,
        now,
        waves,
    )


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


def when(at: datetime | None, option: str = "--at") -> datetime:
    """The moment something happened: now, or ``at`` — which has already happened (up to a
    few minutes of clock skew) and is no earlier than 2000."""
    moment = now()
    if at is None:
        return moment
    if at.tzinfo is None:
        raise RefusedError(f"{option} {at:%Y-%m-%dT%H:%M}: give the UTC offset (+01:00)")
    if at > moment + CLOCK_SKEW:
        raise RefusedError(f"{option} {at.isoformat()} is in the future (now {moment:%Y-%m-%dT%H:%M}Z)")
    if at < EARLIEST:
        raise RefusedError(f"{option} {at.isoformat()} is before {EARLIEST:%Y-%m-%d}")
    return at


def incident_open(
    settings: Settings,
    customer: str,
    title: str,
    host: str | None,
    at: datetime | None,
    mail: bool,
) -> incidents_mod.Opened:
    moment = when(at)
    incidents_mod.check_title(title)
    fleet, ledger = _open(settings)
    return incidents_mod.open_incident(
        fleet,
        ledger,
        mailer(settings) if mail else None,
        customer_id=customer,
        title=title,
        actor=actor(),
        now=moment,
        host=host,
    )


def incident_ack(settings: Settings, ident: str, at: datetime | None) -> Incident:
    moment = when(at)
    ledger = open_ledger(settings)
    return incidents_mod.acknowledge(ledger, incidents_mod.parse_id(ident), actor(), moment)


def incident_resolve(settings: Settings, ident: str, cause: str) -> Incident:
    fleet, ledger = _open(settings)
    return incidents_mod.resolve(
        fleet, ledger, incidents_mod.parse_id(ident), actor(), now(), cause
    )


def incident_list(settings: Settings, customer: str | None, only_open: bool) -> list[Incident]:
    if customer:
        open_context(settings, readonly=True).fleet.customer(customer)
    return store.incidents(open_ledger(settings, readonly=True), customer, only_open=only_open)


def sla_report(
    settings: Settings,
    customer: str | None,
    period: str | None,
    start: date | None,
    end: date | None,
) -> report_mod.SlaReport:
    moment = now()
    span = report_mod.parse_period(period, start, end, moment.date())
    fleet, ledger = _open(settings, readonly=True)
    return report_mod.sla_report(fleet, ledger, span, moment, customer)


def hours_book(
    settings: Settings,
    customer: str,
    hours: float,
    text: str,
    billable: bool,
    incident: str | None,
) -> hours_mod.Booked:
    fleet, ledger = _open(settings)
    inc = incidents_mod.get(ledger, incidents_mod.parse_id(incident)) if incident else None
    return hours_mod.book(
        fleet,
        ledger,
        customer_id=customer,
        hours=hours,
        text=text,
        actor=actor(),
        now=now(),
        billable=billable,
        incident=inc,
    )


def hours_balance(settings: Settings, customer: str) -> list[hours_mod.Balance]:
    """Balances on the customer's own date, the one bookings use (not the UTC date)."""
    fleet, ledger = _open(settings, readonly=True)
    return hours_mod.balances_now(fleet, ledger, customer, now())


def hours_list(settings: Settings, customer: str) -> list[HourBooking]:
    fleet, ledger = _open(settings, readonly=True)
    return store.bookings(ledger, fleet.customer(customer).id)


def contracts_pricing(
    settings: Settings, customer: str | None, on: date
) -> list[pricing_mod.PriceLine]:
    fleet = open_context(settings).fleet
    customers = (fleet.customer(customer),) if customer else fleet.customers
    return pricing_mod.pricing(customers, fleet.tariffs, on)


def contracts_history(
    settings: Settings, customer: str, contract: str | None
) -> list[dict[str, Any]]:
    fleet, ledger = _open(settings, readonly=True)
    return history_mod.history(fleet, ledger, customer, contract)


def customer_docs(settings: Settings, customer: str, out: Path) -> docs_mod.Rendered:
    return customers_docs(settings, (customer,), out)[0]


def customers_docs(
    settings: Settings, customers: tuple[str, ...], out: Path
) -> list[docs_mod.Rendered]:
    """Every customer's page rendered first, then written: an unknown customer or a page
    that does not render leaves no file of any customer behind."""
    from ..fsutil import atomic_write

    fleet, ledger = _open(settings, readonly=True)
    templates = settings.project_dir / "templates" / "docs"
    moment = now()
    pages = [
        (c, docs_mod.render(docs_mod.context(fleet, ledger, c, moment), templates))
        for c in dict.fromkeys(customers)
    ]
    written = []
    for c, (md, html) in pages:
        paths = docs_mod.Rendered(out / f"{c}.md", out / f"{c}.html")
        atomic_write(paths.markdown, md)
        atomic_write(paths.html, html)
        written.append(paths)
    return written
