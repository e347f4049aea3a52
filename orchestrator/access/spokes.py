"""Which hosts of a customer get a tunnel, under which contract (pure).

Remote access is an SLA service: a PBX host gets a spoke only while an active SLA with
``remote_access`` covers it. The spoke runs on the PBX host itself; a site's edge router
gets the matching router configuration (see ``routers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from ipaddress import IPv4Network

from ..errors import RefusedError
from ..fleet import Fleet, HostRef
from ..model import active_sla
from ..model.customer import Customer, EdgeRouter

PRINCIPAL_PREFIX = "cust-"


def principal(customer_id: str) -> str:
    """The certificate principal that opens a customer's hosts."""
    return f"{PRINCIPAL_PREFIX}{customer_id}"


@dataclass(frozen=True)
class Spoke:
    customer_id: str
    site_id: str
    hostname: str
    address: str  # the host's own (LAN) address
    contract_id: str  # the SLA remote access is provided under
    edge_router: EdgeRouter | None


def _sla_id(ref: HostRef, on: date) -> str | None:
    sla = active_sla(ref.customer, ref.hostname, on)
    return sla.id if sla is not None and sla.remote_access else None


def spokes_of(fleet: Fleet, customer_id: str, on: date) -> list[Spoke]:
    """The customer's hosts entitled to remote access; RefusedError when there are none."""
    customer = fleet.customer(customer_id)
    spokes = []
    for ref in fleet.hosts([customer_id]):
        contract = _sla_id(ref, on)
        if contract is not None:
            spokes.append(
                Spoke(
                    customer_id,
                    ref.site.id,
                    ref.hostname,
                    str(ref.address),
                    contract,
                    ref.site.edge_router,
                )
            )
    if not spokes:
        raise RefusedError(_refusal(customer, on))
    return spokes


def _refusal(customer: Customer, on: date) -> str:
    if not customer.systems:
        return f"{customer.id}: no PBX systems in the book"
    return (
        f"{customer.id}: remote access is an SLA service, and no active SLA with remote "
        f"access covers its systems on {on}"
    )


def site_subnets(fleet: Fleet) -> list[tuple[str, IPv4Network]]:
    return [(f"{c.id}/{s.id}", s.subnet) for c in fleet.customers for s in c.sites]
