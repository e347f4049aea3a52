"""Render the Ansible inventory from the contract book (JSON, dynamic-inventory format).

Groups: ``customer_<id>``, ``platform_<p>``, ``deployment_<d>``, ``sla_<tier|none>``,
``entitled`` / ``not_entitled``, ``edge_routers``. Host vars carry the contract facts the
playbooks need, all prefixed ``pbxops_``; ``pbxops_pbx`` is the host's PBX platform profile
(orchestrator/platforms.py), the one source of the PBX roles' platform variables.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from .fleet import Fleet, HostRef
from .model import DEFAULT_REACTION_HOURS, Hosting, SoftwareMaintenance, active_sla, entitlement
from .platforms import profile


def _group(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def host_vars(ref: HostRef, on: date) -> dict[str, Any]:
    c, s = ref.customer, ref.system
    ent = entitlement(c, s, on)
    sla = active_sla(c, s.hostname, on)
    update_contract = next(
        (
            k
            for k in c.contracts_for(s.hostname)
            if isinstance(k, SoftwareMaintenance | Hosting) and k.id == ent.contract
        ),
        None,
    )
    drain = update_contract.call_drain_minutes if update_contract else 30
    recovery = update_contract.registration_recovery_minutes if update_contract else 10
    return {
        "ansible_host": str(s.address),
        "pbxops_customer": c.id,
        "pbxops_customer_name": c.name,
        "pbxops_timezone": c.timezone,
        "pbxops_site": ref.site.id,
        "pbxops_subnet": str(ref.site.subnet),
        "pbxops_platform": s.platform,
        "pbxops_pbx": profile(s.profile_name).role_vars(),
        "pbxops_deployment": s.deployment,
        "pbxops_os_release": s.os_release,
        "pbxops_extensions": s.extensions,
        "pbxops_entitled": ent.entitled,
        "pbxops_update_contract": ent.contract,
        "pbxops_sla_tier": sla.tier if sla else "none",
        "pbxops_sla_contract": sla.id if sla else None,
        "pbxops_reaction_hours": sla.reaction_hours if sla else DEFAULT_REACTION_HOURS,
        "pbxops_call_drain_minutes": drain,
        "pbxops_registration_recovery_minutes": recovery,
        "pbxops_internal": s.internal,
    }


def render_inventory(fleet: Fleet, on: date, customer_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ansible's JSON inventory (``--list`` format) with ``_meta.hostvars``."""
    groups: dict[str, list[str]] = defaultdict(list)
    hostvars: dict[str, dict[str, Any]] = {}
    for ref in fleet.hosts(customer_ids):
        hv = host_vars(ref, on)
        hostvars[ref.hostname] = hv
        for g in (
            f"customer_{_group(ref.customer.id)}",
            f"platform_{_group(ref.system.platform)}",
            f"deployment_{ref.system.deployment}",
            f"sla_{hv['pbxops_sla_tier']}",
            "entitled" if hv["pbxops_entitled"] else "not_entitled",
            "pbx",
        ):
            groups[g].append(ref.hostname)
        router = ref.site.edge_router
        if router is not None and router.hostname not in hostvars:
            hostvars[router.hostname] = {
                "ansible_host": str(router.address),
                "pbxops_customer": ref.customer.id,
                "pbxops_device_type": router.device_type,
            }
            groups["edge_routers"].append(router.hostname)
    inv: dict[str, Any] = {"_meta": {"hostvars": hostvars}}
    for name in sorted(groups):
        inv[name] = {"hosts": groups[name]}
    inv["all"] = {"children": sorted(groups)}
    return inv


def static_inventory(inv: dict[str, Any]) -> dict[str, Any]:
    """The same inventory in Ansible's YAML inventory format, for a file on disk."""
    hostvars = inv["_meta"]["hostvars"]
    children = {g: {"hosts": {h: None for h in inv[g]["hosts"]}} for g in inv["all"]["children"]}
    return {"all": {"hosts": dict(hostvars), "children": children}}
