"""Technicians' side: short-lived user certificates, ``login`` and ``run``.

A technician's key pair lives under ``state_dir/access/technicians/<id>/`` (standing in
for the technician's own workstation key). Certificates are issued per customer with the
principal ``cust-<id>``, valid for hours (default 8), and each is a ledger row. Before any
connection the certificate is checked against the ledger, so an expired, revoked or
wrong-customer certificate is refused with a clear message; the hosts refuse it too
(validity, KRL, AuthorizedPrincipalsFile).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .. import remote
from ..errors import ConfigError, HostError, NotFoundError, RefusedError
from ..ledger import ActionRecord
from ..ledger.access import Certificate, CertificateRequest, certificates
from ..settings import Settings
from . import ca
from .context import Context, open_context
from .pool import hub_address
from .service import barred_since, latest_host_certificate, require_active
from .spokes import principal, spokes_of

DEFAULT_HOURS = 8.0
MAX_HOURS = 12.0
LOGIN_USER = "pbxops"
UNREACHABLE = 255  # ssh's exit code for "could not connect / verify"


@dataclass(frozen=True)
class Session:
    technician: str
    customer_id: str
    certificate: Certificate
    credentials: remote.Credentials
    targets: tuple[tuple[str, str], ...]  # (hostname, tunnel address)


def _tech_dir(ctx: Context, technician: str) -> Path:
    return ctx.dir / "technicians" / technician


def _known_hosts(ctx: Context) -> Path:
    path = ctx.dir / "known_hosts"
    host_ca = ca.public_key(ctx.ledger, "host")
    if host_ca is None:
        raise ConfigError("no host CA yet: grant access to a customer first")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"@cert-authority * {host_ca}\n")
    return path


def technician_key(ctx: Context, technician: str) -> Path:
    if not any(t.id == technician for t in ctx.fleet.technicians):
        raise NotFoundError(f"unknown technician {technician!r} (not in the book's roster)")
    folder = _tech_dir(ctx, technician)
    key = folder / "id_ed25519"
    if not key.is_file():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"{technician}@pbxops",
                "-f",
                str(key),
            ],
            check=True,
            capture_output=True,
        )
    return key


def source_addresses(ctx: Context) -> tuple[str, ...]:
    """Where a technician's session reaches a customer's host from: the hub's own tunnel
    address (sessions run from the controller, through the hub's interface)."""
    return (f"{hub_address(ctx.pool)}/32",)


def issue(
    ctx: Context,
    technician: str,
    customer_id: str,
    public_key: str,
    hours: float,
    actor: str,
    forwarding: tuple[str, ...] = (),
) -> tuple[Certificate, str]:
    """Sign a technician's key for one customer; refused beyond MAX_HOURS or without SLA.
    The certificate permits a pty and the ``forwarding`` asked for, nothing else, from the
    hub's tunnel address only; both are recorded with it."""
    if not 0 < hours <= MAX_HOURS:
        raise RefusedError(f"certificates are short-lived: at most {MAX_HOURS:g} hours")
    since = barred_since(ctx, technician)
    if since is not None:
        raise RefusedError(
            f"{technician}'s remote access was revoked at {since:%Y-%m-%d %H:%M} UTC: no new "
            f"certificates (`pbxops access reinstate {technician}` lifts this)"
        )
    contract = spokes_of(ctx.fleet, customer_id, ctx.today)[0].contract_id
    req = CertificateRequest(
        kind="user",
        subject=technician,
        customer_id=customer_id,
        contract_id=contract,
        principals=(principal(customer_id),),
        public_key=public_key,
        valid_after=ctx.now - timedelta(minutes=5),
        valid_before=ctx.now + timedelta(hours=hours),
        forwarding=tuple(sorted(set(forwarding))),
        source_addresses=source_addresses(ctx),
    )
    cert, text = ca.sign(ctx.ledger, ctx.vault, req)
    allowed = ", ".join(req.forwarding) or "none"
    ctx.ledger.record(
        ActionRecord(
            kind="access.certificate",
            customer_id=customer_id,
            contract_id=contract,
            summary=f"certificate serial {cert.serial} for {technician}, valid until "
            f"{cert.valid_before:%Y-%m-%d %H:%M} UTC; forwarding: {allowed}",
            actor=actor,
            detail={
                "serial": cert.serial,
                "principals": list(cert.principals),
                "forwarding": list(req.forwarding),
                "source_addresses": list(req.source_addresses),
            },
        )
    )
    return cert, text


def check(ctx: Context, cert: Certificate, customer_id: str) -> None:
    """Refuse, with the reason, a certificate the hosts would refuse."""
    if cert.revoked_at is not None:
        raise RefusedError(
            f"certificate serial {cert.serial} was revoked at {cert.revoked_at:%Y-%m-%d %H:%M} UTC"
        )
    if ctx.now >= cert.valid_before:
        raise RefusedError(
            f"certificate serial {cert.serial} expired at {cert.valid_before:%Y-%m-%d %H:%M} UTC"
        )
    if principal(customer_id) not in cert.principals:
        raise RefusedError(
            f"certificate serial {cert.serial} is for {', '.join(cert.principals)}, "
            f"not {principal(customer_id)}"
        )


def _current(
    ctx: Context, technician: str, customer_id: str, public_key: str, forwarding: tuple[str, ...]
) -> Certificate | None:
    """A valid certificate of this key that permits exactly what is asked for now (an
    older one that permits more, or less, is not reused)."""
    margin = ctx.now + timedelta(minutes=10)
    want = set(user_extensions(forwarding))
    for cert in reversed(
        certificates(ctx.ledger, customer_id=customer_id, subject=technician, kind="user")
    ):
        if cert.public_key == public_key and cert.valid_at(ctx.now) and cert.valid_before > margin:
            extensions, options = ca.extensions(cert.certificate)
            if set(extensions) == want and options:
                return cert
    return None


def user_extensions(forwarding: tuple[str, ...]) -> list[str]:
    return ["permit-pty", *(ca.FORWARDING[f] for f in forwarding if f in ca.FORWARDING)]


def open_session(
    settings: Settings,
    technician: str,
    customer_id: str,
    *,
    hours: float = DEFAULT_HOURS,
    renew: bool = False,
    actor: str | None = None,
    forwarding: tuple[str, ...] = (),
) -> Session:
    """Key, a valid certificate (reused while valid unless ``renew``) and the targets."""
    ctx = open_context(settings)
    active = require_active(ctx, customer_id)
    key = technician_key(ctx, technician)
    public = key.with_suffix(".pub").read_text().strip()
    cert = None if renew else _current(ctx, technician, customer_id, public, forwarding)
    if cert is None:
        cert = issue(
            ctx, technician, customer_id, public, hours, actor or technician, forwarding
        )[0]
    cert_file = key.parent / f"{customer_id}-cert.pub"
    cert_file.write_text(cert.certificate + "\n")
    creds = remote.Credentials(LOGIN_USER, key, cert_file, _known_hosts(ctx))
    targets = tuple((a.node, a.address) for a in active)
    return Session(technician, customer_id, cert, creds, targets)


def certificate_by_serial(settings: Settings, serial: int) -> Certificate:
    ctx = open_context(settings)
    for cert in certificates(ctx.ledger, kind="user"):
        if cert.serial == serial:
            return cert
    raise NotFoundError(f"no certificate with serial {serial}")


def login_argv(
    settings: Settings, session: Session, host: str | None, command: list[str]
) -> list[str]:
    ctx = open_context(settings)
    check(ctx, _refresh(ctx, session.certificate), session.customer_id)
    address = _pick(session, host)
    return remote.ssh_argv(session.credentials, address, command)


def _refresh(ctx: Context, cert: Certificate) -> Certificate:
    for c in certificates(ctx.ledger, subject=cert.subject, kind="user"):
        if c.serial == cert.serial:
            return c
    return cert


def _pick(session: Session, host: str | None) -> str:
    for name, address in session.targets:
        if host in (None, name):
            return address
    raise NotFoundError(f"{host}: not a host of {session.customer_id} with remote access")


def run(settings: Settings, session: Session, command: list[str]) -> list[remote.CommandResult]:
    """Run ``command`` on each of the customer's hosts (Fabric); every run is a ledger row
    (who, when, what, exit code). A host that cannot be reached or presents another host
    key than the one pbxops certified gets exit code 255 (as with ssh) and the error; the
    other hosts still run."""
    ctx = open_context(settings)
    check(ctx, _refresh(ctx, session.certificate), session.customer_id)
    text = remote.command_line(command)
    results = []
    for host, address in session.targets:
        host_cert = latest_host_certificate(ctx, host)
        if host_cert is None:
            raise ConfigError(f"{host}: no host certificate recorded; run grant again")
        try:
            res = remote.run_command(session.credentials, host, address, host_cert.public_key, text)
        except HostError as exc:  # unreachable, host key refused: this host only
            res = remote.CommandResult(host, UNREACHABLE, "", f"error: {exc}")
        results.append(res)
        detail: dict[str, object] = {
            "exit_code": res.exit_code,
            "serial": session.certificate.serial,
        }
        if res.exit_code == UNREACHABLE:
            detail["error"] = res.stderr
        ctx.ledger.record(
            ActionRecord(
                kind="access.run",
                customer_id=session.customer_id,
                contract_id=session.certificate.contract_id,
                summary=text,
                actor=session.technician,
                host=host,
                outcome="ok" if res.exit_code == 0 else "failed",
                detail=detail,
            )
        )
    return results
