"""Use cases of phone provisioning, called by ``pbxops phones ...`` and the tests.

Everything is rendered and validated before anything is written; SIP passwords are
generated once per extension, kept encrypted in the ledger, and only ever leave as part
of the published files (or with an explicit, recorded ``--show-secrets``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..context import Context, open_context
from ..errors import NotFoundError, RefusedError
from ..fleet import Fleet, HostRef
from ..fsutil import atomic_write
from ..ledger import ActionRecord, Ledger
from ..ledger import phones as ledger_phones
from ..model import Customer, HardwareMaintenance, Hosting, HourPackage, SoftwareMaintenance, System
from ..platforms import profile
from ..secrets import Vault, generate_password
from ..settings import Settings
from .accounts import accounts_file
from .publish import (
    PublishedFile,
    PublishOptions,
    PublishOutcome,
    PublishTarget,
    publish,
    published_snapshot,
    raise_for,
)
from .render import Credential, Endpoint, PhoneFiles, RenderedFile, Renderer


@dataclass
class Workspace:
    """What the use cases work with: the book, the ledger, the vault, the templates."""

    settings: Settings
    fleet: Fleet
    renderer: Renderer
    context: Context

    @property
    def ledger(self) -> Ledger:
        return self.context.ledger

    @property
    def vault(self) -> Vault:
        """The secret key, opened (and checked against the ledger) on first use."""
        return self.context.vault

    @property
    def actor(self) -> str:
        return self.context.actor

    def reload(self) -> None:
        self.fleet = self.context.reload_book()


def open_workspace(settings: Settings) -> Workspace:
    """The phones view of the one context (``orchestrator.context``): book, ledger, the
    vault checked against the secrets already stored, and the templates."""
    ctx = open_context(settings)
    return Workspace(
        settings=settings,
        fleet=ctx.fleet,
        renderer=Renderer(settings.project_dir / "templates" / "phones"),
        context=ctx,
    )


@dataclass(frozen=True)
class HostFiles:
    """The rendered files of one PBX's phones and the server they go to."""

    hostname: str  # the PBX whose phones these are
    server: str  # the host that serves them (the PBX, or a standby in a workaround)
    address: str
    owner: str
    files: PhoneFiles
    accounts: RenderedFile | None = None  # the PBX's own SIP accounts (real Asterisk only)
    accounts_dest: str = ""

    def target(self) -> PublishTarget:
        return PublishTarget(self.server, self.address, self.owner, self.files,
                             self.accounts, self.accounts_dest)


# -- endpoints and credentials ---------------------------------------------------------


def url_of(ref: HostRef) -> str:
    return f"http://{ref.address}/"


def default_standby(fleet: Fleet, ref: HostRef) -> HostRef | None:
    """The provider's own virtual PBX that every config names as fallback provisioning."""
    for other in sorted(fleet.hosts(), key=lambda r: r.hostname):
        if other.system.internal and other.system.deployment == "virtual" and other != ref:
            return other
    return None


def normal_endpoint(fleet: Fleet, ref: HostRef) -> Endpoint:
    standby = default_standby(fleet, ref)
    return Endpoint(str(ref.address), url_of(ref), url_of(standby) if standby else "")


def workaround_endpoint(ref: HostRef, standby: HostRef) -> Endpoint:
    """Register at the standby and fetch from it; fall back to the PBX once it is back."""
    return Endpoint(str(standby.address), url_of(standby), url_of(ref))


def credentials_for(ws: Workspace, system: System) -> dict[str, Credential]:
    """The SIP account of every extension with a phone; missing ones are generated."""
    vault = ws.vault  # the key first: a missing or wrong key writes (and creates) nothing
    stored = ledger_phones.stored_credentials(ws.ledger, system.hostname)
    missing = {
        p.extension: ledger_phones.StoredCredential(
            p.extension, vault.encrypt(generate_password().reveal())
        )
        for p in system.phones
        if p.extension not in stored
    }
    if missing:
        stored = ledger_phones.add_credentials(ws.ledger, system.hostname, missing)
    return {
        ext: Credential(c.username, vault.decrypt(c.token))
        for ext, c in stored.items()
        if any(p.extension == ext for p in system.phones)
    }


# -- render, diff, publish -------------------------------------------------------------


def render_host(ws: Workspace, ref: HostRef, endpoint: Endpoint | None = None) -> PhoneFiles:
    return ws.renderer.system_files(
        ref.customer,
        ref.system,
        ws.fleet.catalog,
        credentials_for(ws, ref.system),
        endpoint or normal_endpoint(ws.fleet, ref),
    )


def render_accounts(ws: Workspace, ref: HostRef) -> RenderedFile | None:
    """The PBX's PJSIP accounts from the same credentials as the phone files; None when
    its profile has no accounts file (pbxops does not manage that PBX's accounts)."""
    dest = profile(ref.system.profile_name).sip_accounts_file
    if not dest:
        return None
    creds = credentials_for(ws, ref.system)
    return accounts_file(ref.customer, ref.system, creds, dest.rsplit("/", 1)[-1])


def host_files(ws: Workspace, ref: HostRef) -> HostFiles:
    """What a normal publish to the PBX itself carries: its phones' files and accounts."""
    return HostFiles(ref.hostname, ref.hostname, str(ref.address), ref.hostname,
                     render_host(ws, ref), render_accounts(ws, ref),
                     profile(ref.system.profile_name).sip_accounts_file)


def render_customer(ws: Workspace, customer_id: str, hostname: str | None = None) -> list[HostFiles]:
    """Every PBX of the customer (or one), rendered and validated; nothing is written."""
    return [host_files(ws, ref) for ref in customer_hosts(ws.fleet, customer_id, hostname)]


def customer_hosts(fleet: Fleet, customer_id: str, hostname: str | None = None) -> list[HostRef]:
    refs = list(fleet.hosts([customer_id]))
    if hostname is None:
        return refs
    chosen = [r for r in refs if r.hostname == hostname]
    if not chosen:
        raise NotFoundError(f"customer {customer_id} has no PBX {hostname!r}")
    return chosen


def write_rendered(hosts: Sequence[HostFiles], out: Path, reveal: bool) -> list[Path]:
    """Write files under ``out/<hostname>/``; passwords masked unless ``reveal``."""
    written = []
    for host in hosts:
        directory = out / host.hostname
        for f in host.files.files:
            path = directory / f.name
            # a new 0600 file renamed into place: never through a link at ``path``, never
            # keeping an older file's mode
            atomic_write(path, f.content if reveal else host.files.redact(f.content), 0o600)
            written.append(path)
    return written


@dataclass(frozen=True)
class FileChange:
    hostname: str
    name: str
    status: str  # added | changed | removed | unchanged
    diff: tuple[str, ...] = ()  # unified diff, passwords masked unless revealed


def diff_customer(
    ws: Workspace, customer_id: str, reveal: bool = False, hostname: str | None = None
) -> list[FileChange]:
    """What a publish would change, against the snapshot of the last successful publish."""
    changes: list[FileChange] = []
    for host in render_customer(ws, customer_id, hostname):
        old = published_snapshot(ws.settings, host.server, host.owner)
        changes.extend(_file_changes(host, old, reveal))
    return changes


def _file_changes(
    host: HostFiles, old: dict[str, PublishedFile], reveal: bool
) -> Iterable[FileChange]:
    new = {f.name: f for f in host.files.files}
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None and before.sha256 == after.sha256:
            yield FileChange(host.hostname, name, "unchanged")
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        new_text = "" if after is None else after.content
        lines = difflib.unified_diff(
            (before.redacted if before else "").splitlines(),
            (new_text if reveal else host.files.redact(new_text)).splitlines(),
            f"published/{name}", f"rendered/{name}", lineterm="",
        )
        yield FileChange(host.hostname, name, status, tuple(lines))


def provisioning_contract(customer: Customer, hostname: str, on: date) -> str | None:
    """The contract phone provisioning is done under: an hour package for configuration
    changes, else the hosting or software-maintenance contract; None means billable."""
    kinds = (HourPackage, Hosting, SoftwareMaintenance)
    active = [k for k in customer.contracts_for(hostname) if k.active_on(on)]
    for kind in kinds:
        for k in active:
            if isinstance(k, kind):
                return k.id
    return None


def hardware_contract(customer: Customer, hostname: str, on: date) -> HardwareMaintenance:
    for k in customer.contracts_for(hostname):
        if isinstance(k, HardwareMaintenance) and k.active_on(on):
            return k
    raise RefusedError(
        f"customer {customer.id} has no hardware-maintenance contract covering {hostname} "
        f"on {on}: swaps and workarounds are hardware-maintenance work (order it as billable "
        "work instead)"
    )


def publish_hosts(
    ws: Workspace,
    hosts: Sequence[HostFiles],
    actor: str,
    on: date,
    options: PublishOptions,
    kind: str = "phones.publish",
) -> list[PublishOutcome]:
    """Publish already-rendered sets, one ledger row per server."""
    outcomes = []
    for host in hosts:
        outcome = publish(ws.settings, host.target(), options)
        customer = ws.fleet.host(host.hostname).customer
        ws.ledger.record(_publish_record(customer, host, outcome, actor, on, kind))
        outcomes.append(outcome)
    return outcomes


def _publish_record(
    customer: Customer, host: HostFiles, outcome: PublishOutcome, actor: str, on: date, kind: str
) -> ActionRecord:
    summary = (
        f"published {len(host.files.files)} phone files to {host.server}: "
        f"{len(outcome.changed)} changed, {len(outcome.removed)} removed"
        if outcome.ok
        else f"publishing phone files to {host.server} failed: {outcome.error}"
    )
    contract = (
        hardware_contract(customer, host.hostname, on).id
        if kind.startswith("phones.workaround")
        else provisioning_contract(customer, host.hostname, on)
    )
    return ActionRecord(
        kind=kind,
        customer_id=customer.id,
        contract_id=contract,
        summary=summary,
        actor=actor,
        host=host.hostname,
        outcome="ok" if outcome.ok else "failed",
        detail={"server": host.server, "owner": host.owner, "changed": list(outcome.changed),
                "removed": list(outcome.removed), "files": list(host.files.names)},
    )


def publish_customer(
    ws: Workspace,
    customer_id: str,
    actor: str,
    on: date,
    options: PublishOptions | None = None,
    hostname: str | None = None,
) -> list[PublishOutcome]:
    """Render every PBX of the customer first (any error stops here), then publish."""
    hosts = render_customer(ws, customer_id, hostname)
    outcomes = publish_hosts(ws, hosts, actor, on, options or PublishOptions())
    raise_for(outcomes)
    return outcomes


def record_secrets_shown(ws: Workspace, customer_id: str, actor: str, what: str) -> None:
    """``--show-secrets`` is always recorded: who saw which customer's SIP passwords."""
    ws.ledger.record(
        ActionRecord(
            kind="phones.secrets_shown",
            customer_id=customer_id,
            contract_id=None,
            summary=f"SIP passwords shown to {actor} ({what})",
            actor=actor,
            detail={"command": what},
        )
    )
