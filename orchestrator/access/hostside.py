"""The host side of remote access: ``playbooks/remote_access.yml`` through the executor.

Only public material travels: host variables carry public keys, certificates, the KRL's
path and tunnel addresses. Private keys are made on the hosts (WireGuard) or never leave
pbxops' process (CA keys, hub key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import executor
from .context import Context
from .pool import hub_address, spoke_interface
from .spokes import Spoke

PLAYBOOK = "remote_access.yml"


@dataclass(frozen=True)
class PhaseResult:
    """Per host: succeeded, changed count, error, and the public keys it published."""

    ok: dict[str, bool] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _debs(ctx: Context) -> list[str]:
    folder = ctx.settings.vpn_debs_dir
    return sorted(str(p) for p in folder.glob("*.deb")) if folder else []


def base_vars(ctx: Context, spoke: Spoke) -> dict[str, Any]:
    return {
        "ansible_host": spoke.address,
        "pbxops_customer": spoke.customer_id,
        "wireguard_spoke_interface": spoke_interface(spoke.customer_id),
        "wireguard_spoke_local_debs": _debs(ctx),
    }


def apply_vars(ctx: Context, tunnel: str, hub_public: str) -> dict[str, Any]:
    return {
        "wireguard_spoke_address": tunnel,
        "wireguard_spoke_hub_public_key": hub_public,
        "wireguard_spoke_hub_endpoint": ctx.settings.vpn_hub_endpoint,
        "wireguard_spoke_hub_allowed_ips": [f"{hub_address(ctx.pool)}/32"],
    }


def run_phase(
    ctx: Context,
    hostvars: Mapping[str, dict[str, Any]],
    extravars: dict[str, Any],
    label: str,
) -> PhaseResult:
    hosts = sorted(hostvars)
    inventory = {
        "all": {
            "hosts": {h: dict(v) for h, v in hostvars.items()},
            "children": {"remote_access": {"hosts": dict.fromkeys(hosts)}},
        }
    }
    run = executor.run_playbook(
        ctx.settings,
        PLAYBOOK,
        inventory,
        hosts,
        extravars=extravars,
        ident=executor.new_ident(f"access-{label}"),
    )
    result = PhaseResult()
    for host in hosts:
        out = run.hosts.get(host, executor.HostOutcome(host, failed=True, error="no result"))
        ok = out.succeeded and (run.status == "successful" or out.ok > 0)
        result.ok[host] = ok
        result.changed[host] = out.changed
        result.facts[host] = dict(out.facts)
        if not ok:
            where = f" ({out.failed_task})" if out.failed_task else ""
            result.errors[host] = (out.error or f"playbook {run.status}") + where
    return result
