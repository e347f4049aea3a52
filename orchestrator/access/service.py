"""Remote-access use cases: grant, status, revoke, rotate (the CLI calls these).

Grant, in an order that never leaves a half-configured tunnel active:

1. refuse customers without an active SLA with remote access, and pools that overlap
   customer networks;
2. claim one tunnel address per PBX host in the ledger (``pending``);
3. ``keys`` phase: each host makes its WireGuard key and reports only public keys;
4. sign host certificates, build the KRL; ``apply`` phase writes tunnel, CA trust, sshd;
5. only hosts that completed become ``active`` and hub peers. A host that failed stays
   ``pending``: no hub peer, so its tunnel carries nothing; the next grant completes it.
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import HostError, NotFoundError, RefusedError
from ..ledger import ActionRecord
from ..ledger.access import (
    Allocation,
    Certificate,
    CertificateRequest,
    allocate,
    allocations,
    certificates,
    release,
    revoke_certificates,
    set_allocation,
)
from ..settings import Settings
from . import ca, hub, routers
from .context import Context, open_context
from .hostside import PhaseResult, apply_vars, base_vars, run_phase
from .pool import first_free
from .routers import RouterConfig
from .spokes import Spoke, principal, spokes_of

# Host certificates last 30 days (smallstep's default for hosts; Teleport renews its own
# much sooner); a grant or `access rotate` within the last 10 days of one renews it.
HOST_CERT_DAYS = 30
HOST_CERT_RENEW_DAYS = 10


@dataclass(frozen=True)
class HostAccess:
    hostname: str
    tunnel_address: str
    status: str  # active | pending | removed
    changed: int = 0
    error: str | None = None


@dataclass(frozen=True)
class AccessResult:
    action: str
    customer_id: str
    contract_id: str | None
    hosts: tuple[HostAccess, ...]
    revoked_serials: tuple[int, ...] = ()
    routers: tuple[RouterConfig, ...] = ()

    @property
    def failed(self) -> list[HostAccess]:
        return [h for h in self.hosts if h.error]

    @property
    def failed_routers(self) -> list[RouterConfig]:
        return [r for r in self.routers if r.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "customer": self.customer_id,
            "contract": self.contract_id,
            "hosts": [h.__dict__ for h in self.hosts],
            "revoked_serials": list(self.revoked_serials),
            "routers": [r.as_dict() for r in self.routers],
        }


class AccessHostError(HostError):
    """Some hosts failed; ``result`` says which and what happened to the others."""

    def __init__(self, message: str, result: AccessResult) -> None:
        super().__init__(message)
        self.result = result


# -- hub --------------------------------------------------------------------------------


def sync_hub(ctx: Context) -> None:
    """Start the hub if needed and make its peers the active allocations."""
    key = hub.ensure_key(ctx.ledger, ctx.vault)
    ifname = ctx.settings.vpn_hub_interface
    ctx.dir.mkdir(parents=True, exist_ok=True)
    with (ctx.dir / "hub.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # read peers + sync as one step: no lost peer
        hub.start(ifname, ctx.pool, ctx.dir / "hub.log")
        hub.sync(ifname, ctx.vault, key, ctx.hub_port, _peers(ctx))


def retire_idle_hub(ctx: Context) -> int | None:
    """Stop the hub when no tunnel is active any more (the last customer was revoked):
    wireguard-go, its interface and the pool's route go. Returns the pid stopped."""
    ifname = ctx.settings.vpn_hub_interface
    ctx.dir.mkdir(parents=True, exist_ok=True)
    with (ctx.dir / "hub.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no grant's sync between the check and the stop
        if _peers(ctx) or not (hub.running(ifname) or hub.hub_pid(ifname)):
            return None
        return hub.stop(ifname)


def hub_status(settings: Settings) -> hub.HubStatus:
    """``access hub status``: the hub of the configured interface (needs no ledger)."""
    return hub.status(settings.vpn_hub_interface)


def hub_down(settings: Settings) -> int | None:
    """``access hub down``: stop the hub (tunnels stay in the ledger; the next grant or
    rotate starts it again with the active peers). Returns the pid stopped."""
    return hub.stop(settings.vpn_hub_interface)


def _peers(ctx: Context) -> list[hub.Peer]:
    addresses = {r.hostname: str(r.address) for r in ctx.fleet.hosts()}
    peers = []
    for a in allocations(ctx.ledger):
        if a.status == "active" and a.public_key:
            allowed = [f"{a.address}/32"]
            if a.node in addresses:
                allowed.append(f"{addresses[a.node]}/32")
            peers.append(hub.Peer(a.public_key, tuple(allowed)))
    return peers


# -- certificates of hosts ----------------------------------------------------------------


def host_certificate(ctx: Context, spoke: Spoke, host_key: str, tunnel: str, force: bool) -> str:
    """A host certificate for ``host_key``: the current one, or a new one when it is
    missing, for another key or address, near its end, or ``force`` (rotation)."""
    names = (spoke.hostname, spoke.address, tunnel)
    soon = ctx.now + timedelta(days=HOST_CERT_RENEW_DAYS)
    for cert in reversed(certificates(ctx.ledger, subject=spoke.hostname, kind="host")):
        if force or cert.public_key != host_key.strip() or cert.principals != names:
            continue
        if cert.valid_at(ctx.now) and cert.valid_before > soon:
            return cert.certificate
    req = CertificateRequest(
        kind="host",
        subject=spoke.hostname,
        customer_id=spoke.customer_id,
        contract_id=spoke.contract_id,
        principals=names,
        public_key=host_key,
        valid_after=ctx.now - timedelta(minutes=5),
        valid_before=ctx.now + timedelta(days=HOST_CERT_DAYS),
    )
    return ca.sign(ctx.ledger, ctx.vault, req)[1]


def latest_host_certificate(ctx: Context, hostname: str) -> Certificate | None:
    valid = [
        c for c in certificates(ctx.ledger, subject=hostname, kind="host") if c.valid_at(ctx.now)
    ]
    return valid[-1] if valid else None


# -- grant --------------------------------------------------------------------------------


def _claim(ctx: Context, spokes: list[Spoke]) -> dict[str, Allocation]:
    return {
        s.hostname: allocate(
            ctx.ledger,
            s.customer_id,
            s.site_id,
            s.hostname,
            lambda used: first_free(ctx.pool, used),
        )
        for s in spokes
    }


def _trust_vars(ctx: Context, customer_id: str, cert: str, principals: bool) -> dict[str, Any]:
    return {
        "ssh_ca_trust_user_ca_public_key": ca.ensure_ca(ctx.ledger, ctx.vault, "user"),
        "ssh_ca_trust_principals": [principal(customer_id)] if principals else [],
        "ssh_ca_trust_host_certificate": cert,
        "ssh_ca_trust_krl_file": str(ca.build_krl(ctx.ledger, ctx.dir / "krl")),
    }


def _apply_hostvars(
    ctx: Context,
    spokes: list[Spoke],
    claimed: dict[str, Allocation],
    keys: PhaseResult,
    rotate: bool,
) -> dict[str, dict[str, Any]]:
    hub_public = hub.ensure_key(ctx.ledger, ctx.vault).public_key
    out = {}
    for s in spokes:
        if not keys.ok.get(s.hostname):
            continue
        tunnel = claimed[s.hostname].address
        host_key = _fact(keys, s.hostname, "ssh_host_key")
        cert = host_certificate(ctx, s, host_key, tunnel, force=rotate)
        out[s.hostname] = {
            **base_vars(ctx, s),
            **apply_vars(ctx, tunnel, hub_public),
            **_trust_vars(ctx, s.customer_id, cert, principals=True),
        }
    return out


def _fact(phase: PhaseResult, host: str, name: str) -> str:
    """A public key a host published (``pbxops_out_<name>``; the executor may strip the
    prefix)."""
    facts = phase.facts.get(host, {})
    return str(facts.get(name) or facts.get(f"pbxops_out_{name}") or "")


def _configure(ctx: Context, spokes: list[Spoke], rotate: bool) -> tuple[PhaseResult, PhaseResult]:
    claimed = _claim(ctx, spokes)
    for kind in ca.KINDS:
        ca.ensure_ca(ctx.ledger, ctx.vault, kind)
    extra = {"wireguard_spoke_rotate": rotate}
    keys = run_phase(
        ctx,
        {s.hostname: base_vars(ctx, s) for s in spokes},
        {**extra, "remote_access_phase": "keys"},
        f"keys-{spokes[0].customer_id}",
    )
    hostvars = _apply_hostvars(ctx, spokes, claimed, keys, rotate)
    applied = PhaseResult()
    if hostvars:
        applied = run_phase(
            ctx,
            hostvars,
            {**extra, "remote_access_phase": "apply"},
            f"apply-{spokes[0].customer_id}",
        )
    for s in spokes:
        if applied.ok.get(s.hostname):
            public = _fact(keys, s.hostname, "wg_public_key")
            set_allocation(ctx.ledger, s.customer_id, s.hostname, "active", public)
    return keys, applied


def _host_results(
    ctx: Context, spokes: list[Spoke], keys: PhaseResult, applied: PhaseResult
) -> tuple[HostAccess, ...]:
    by_node = {a.node: a for a in allocations(ctx.ledger, spokes[0].customer_id)}
    out = []
    for s in spokes:
        a = by_node[s.hostname]
        error = keys.errors.get(s.hostname) or applied.errors.get(s.hostname)
        changed = keys.changed.get(s.hostname, 0) + applied.changed.get(s.hostname, 0)
        out.append(HostAccess(s.hostname, a.address, a.status, changed, error))
    return tuple(out)


def _finish(ctx: Context, result: AccessResult, actor: str) -> AccessResult:
    failed = result.failed
    bad_routers = result.failed_routers
    summary = f"{result.action} remote access: " + ", ".join(
        f"{h.hostname}={h.tunnel_address}:{h.status}" for h in result.hosts
    )
    ctx.ledger.record(
        ActionRecord(
            kind=f"access.{result.action}",
            customer_id=result.customer_id,
            contract_id=result.contract_id,
            summary=summary,
            actor=actor,
            outcome="failed" if failed or bad_routers else "ok",
            detail=result.as_dict(),
        )
    )
    if failed:
        names = ", ".join(f"{h.hostname}: {h.error}" for h in failed)
        raise AccessHostError(
            f"{result.action} incomplete for {len(failed)} host(s) ({names}); their tunnels "
            f"stay inactive: {_advice(ctx, result.customer_id, failed)}",
            result,
        )
    if bad_routers:
        names = "; ".join(str(r.error) for r in bad_routers)
        raise AccessHostError(
            f"{result.action}: edge router configuration failed ({names}); the tunnels are "
            f"up, run `pbxops access grant {result.customer_id} --configure-routers` again",
            result,
        )
    return result


def _advice(ctx: Context, customer_id: str, failed: list[HostAccess]) -> str:
    """What to do about hosts that failed: a host that cannot install WireGuard from its
    package sources needs the .debs (another grant alone fails the same way)."""
    if any("No package matching" in (h.error or "") for h in failed):
        where = ctx.settings.vpn_debs_dir
        debs = (f"put the wireguard-tools and wireguard-go .debs for the hosts into "
                f"{where} (apt-get download wireguard-tools wireguard-go)" if where else
                "set vpn_debs_dir to a directory with the wireguard-tools and wireguard-go "
                ".debs for the hosts (on the lab: bash scripts/setup.sh fetches them into "
                f"{ctx.settings.lab_cache_dir / 'debs'}, used while a lab is up)")
        return f"the hosts cannot install WireGuard from their package sources: {debs}, " \
               f"then run `pbxops access grant {customer_id}` again"
    return f"run `pbxops access grant {customer_id}` again"


def grant(
    settings: Settings,
    customer_id: str,
    actor: str,
    *,
    now: datetime | None = None,
    configure_routers: bool = False,
) -> AccessResult:
    """Give the provider remote access to the customer's PBX hosts (idempotent)."""
    ctx = open_context(settings, now)
    spokes = spokes_of(ctx.fleet, customer_id, ctx.today)
    sync_hub(ctx)
    keys, applied = _configure(ctx, spokes, rotate=False)
    sync_hub(ctx)
    configured = routers.configure(ctx, spokes, push=configure_routers)
    result = AccessResult(
        "grant",
        customer_id,
        spokes[0].contract_id,
        _host_results(ctx, spokes, keys, applied),
        routers=tuple(configured),
    )
    return _finish(ctx, result, actor)


def rotate(settings: Settings, customer_id: str, actor: str) -> AccessResult:
    """New WireGuard keys (made on the hosts), new host certificates, and the customer's
    technician certificates revoked: old keys stop working, new ones work."""
    ctx = open_context(settings)
    spokes = spokes_of(ctx.fleet, customer_id, ctx.today)
    serials = _revoke_user_certs(ctx, customer_id=customer_id)
    keys, applied = _configure(ctx, spokes, rotate=True)
    sync_hub(ctx)
    hosts = _host_results(ctx, spokes, keys, applied)
    result = AccessResult("rotate", customer_id, spokes[0].contract_id, hosts, tuple(serials))
    return _finish(ctx, result, actor)


# -- revoke -------------------------------------------------------------------------------


def _revoke_user_certs(
    ctx: Context, *, customer_id: str | None = None, technician: str | None = None
) -> list[int]:
    certs = certificates(ctx.ledger, customer_id=customer_id, subject=technician, kind="user")
    return revoke_certificates(
        ctx.ledger, [c.serial for c in certs if c.revoked_at is None], ctx.now
    )


def revoke(settings: Settings, target: str, actor: str) -> list[AccessResult]:
    """Revoke a customer (tunnel down, addresses released, its certificates revoked) or a
    technician (every certificate of theirs revoked, the KRL pushed to every host)."""
    ctx = open_context(settings)
    if any(t.id == target for t in ctx.fleet.technicians):
        return revoke_technician(ctx, target, actor)
    ctx.fleet.customer(target)  # NotFoundError names the unknown id
    return [revoke_customer(ctx, target, actor)]


def revoke_customer(ctx: Context, customer_id: str, actor: str) -> AccessResult:
    serials = _revoke_user_certs(ctx, customer_id=customer_id)
    released = release(ctx.ledger, customer_id)
    if ctx.settings.vpn_hub_interface and hub.running(ctx.settings.vpn_hub_interface):
        sync_hub(ctx)  # the hub forgets the peers first: no traffic even if hosts fail
    hostvars = _revoke_hostvars(ctx, customer_id, released)
    done = PhaseResult()
    if hostvars:
        done = run_phase(
            ctx,
            hostvars,
            {"remote_access_phase": "apply", "remote_access_state": "absent"},
            f"revoke-{customer_id}",
        )
    hosts = tuple(
        HostAccess(
            a.node, a.address, "removed", done.changed.get(a.node, 0), done.errors.get(a.node)
        )
        for a in released
    )
    result = AccessResult("revoke", customer_id, _contract(ctx, customer_id), hosts, tuple(serials))
    retire_idle_hub(ctx)
    return _finish(ctx, result, actor)


def _contract(ctx: Context, customer_id: str) -> str | None:
    try:
        return spokes_of(ctx.fleet, customer_id, ctx.today)[0].contract_id
    except RefusedError:  # a revoked customer may have no SLA any more
        return None


def _revoke_hostvars(
    ctx: Context, customer_id: str, released: list[Allocation]
) -> dict[str, dict[str, Any]]:
    refs = {r.hostname: r for r in ctx.fleet.hosts([customer_id])}
    out = {}
    for a in released:
        cert = latest_host_certificate(ctx, a.node)
        if a.node not in refs or cert is None:
            continue
        spoke = Spoke(customer_id, a.site_id, a.node, str(refs[a.node].address), "", None)
        out[a.node] = {
            **base_vars(ctx, spoke),
            **_trust_vars(ctx, customer_id, cert.certificate, principals=False),
        }
    return out


TECHNICIAN_KIND = "access.technician"


def _set_barred(ctx: Context, technician: str, barred: bool, actor: str) -> None:
    what = "barred from remote access" if barred else "reinstated for remote access"
    ctx.ledger.record(
        ActionRecord(
            kind=TECHNICIAN_KIND,
            customer_id="-",
            contract_id=None,
            summary=f"{technician} {what}",
            actor=actor,
            detail={"technician": technician, "barred": barred},
        )
    )


def barred_since(ctx: Context, technician: str) -> datetime | None:
    """When the technician was revoked, if no reinstatement came after: a revoked
    technician gets no new certificate (revoking only the current ones would let the
    next ``login``/``run`` simply issue a fresh one)."""
    last = None
    for rec in ctx.ledger.actions(customer_id="-", kind_prefix=TECHNICIAN_KIND):
        if rec.kind == TECHNICIAN_KIND and rec.detail.get("technician") == technician:
            last = rec
    return last.at if last is not None and last.detail.get("barred") else None


def reinstate(settings: Settings, technician: str, actor: str) -> None:
    """Let a revoked technician get certificates again (the old ones stay revoked)."""
    ctx = open_context(settings)
    if not any(t.id == technician for t in ctx.fleet.technicians):
        raise NotFoundError(f"unknown technician {technician!r} (not in the book's roster)")
    if barred_since(ctx, technician) is None:
        raise RefusedError(f"{technician} is not revoked")
    _set_barred(ctx, technician, False, actor)


def revoke_technician(ctx: Context, technician: str, actor: str) -> list[AccessResult]:
    _set_barred(ctx, technician, True, actor)  # first: no new certificate from now on
    serials = _revoke_user_certs(ctx, technician=technician)
    results = []
    customers = sorted({a.customer_id for a in allocations(ctx.ledger) if a.status == "active"})
    for customer_id in customers:
        spokes = spokes_of(ctx.fleet, customer_id, ctx.today)
        keys, applied = _configure(ctx, spokes, rotate=False)
        hosts = _host_results(ctx, spokes, keys, applied)
        result = AccessResult(
            "revoke-technician", customer_id, spokes[0].contract_id, hosts, tuple(serials)
        )
        results.append(_finish(ctx, result, actor))
    if not customers:
        ctx.ledger.record(
            ActionRecord(
                kind="access.revoke-technician",
                customer_id="-",
                contract_id=None,
                summary=f"revoked certificates of {technician}: {serials}",
                actor=actor,
            )
        )
    return results


# -- status -------------------------------------------------------------------------------


def status(settings: Settings, customer_id: str | None = None) -> list[dict[str, Any]]:
    """Per spoke: address, ledger status, hub handshake age and traffic, valid certs."""
    ctx = open_context(settings, readonly=True)
    if customer_id is not None:
        ctx.fleet.customer(customer_id)
    live = hub.peers(ctx.settings.vpn_hub_interface)
    now = datetime.now(UTC).timestamp()
    rows = []
    for a in allocations(ctx.ledger, customer_id):
        peer = live.get(a.public_key or "")
        age = int(now - peer.latest_handshake) if peer and peer.latest_handshake else None
        certs = [
            c
            for c in certificates(ctx.ledger, customer_id=a.customer_id, kind="user")
            if c.valid_at(ctx.now)
        ]
        rows.append(
            {
                "customer": a.customer_id,
                "host": a.node,
                "tunnel_address": a.address,
                "status": a.status,
                "hub_peer": peer is not None,
                "handshake_age_s": age,
                "rx_bytes": peer.rx if peer else 0,
                "tx_bytes": peer.tx if peer else 0,
                "valid_user_certs": len(certs),
            }
        )
    return rows


def require_active(ctx: Context, customer_id: str) -> list[Allocation]:
    active = [a for a in allocations(ctx.ledger, customer_id) if a.status == "active"]
    if not active:
        raise NotFoundError(
            f"{customer_id}: no active remote access (run `pbxops access grant {customer_id}`)"
        )
    return active
