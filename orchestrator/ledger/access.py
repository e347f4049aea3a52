"""Ledger tables of remote access: tunnel address allocations, issued SSH certificates and
the provider's encrypted access keys (hub key, CA keys).

- ``access_allocations``: one tunnel address per spoke (a customer's PBX host or edge
  router). ``UNIQUE(address)`` and ``UNIQUE(customer_id, node)`` make allocation safe when
  two grants race or a grant crashes half-way: the database decides, a retry takes the next
  free address, and a re-run finds the row it made before.
- ``access_certificates``: every OpenSSH certificate pbxops signed; its id IS the serial.
- ``access_keys``: public key + Fernet token of a private key (never plaintext).

Other packages call the functions below and get plain dataclasses back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .db import Ledger
from .models import Base, utcnow


class AllocationRow(Base):
    __tablename__ = "access_allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    site_id: Mapped[str] = mapped_column(String(80), nullable=False)
    node: Mapped[str] = mapped_column(String(120), nullable=False)
    address: Mapped[str] = mapped_column(String(45), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    public_key: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("address", name="uq_access_address"),
        UniqueConstraint("customer_id", "node", name="uq_access_node"),
    )


class CertificateRow(Base):
    __tablename__ = "access_certificates"

    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # user | host
    subject: Mapped[str] = mapped_column(String(120), nullable=False)  # technician | host
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    principals: Mapped[str] = mapped_column(Text, nullable=False)  # comma-separated
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    certificate: Mapped[str] = mapped_column(Text, nullable=False, default="")
    valid_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    valid_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccessKeyRow(Base):
    __tablename__ = "access_keys"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)  # Fernet token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Allocation:
    customer_id: str
    site_id: str
    node: str
    address: str
    status: str  # pending (being set up, not routed by the hub) | active
    public_key: str | None


@dataclass(frozen=True)
class Certificate:
    serial: int
    kind: str
    subject: str
    customer_id: str
    contract_id: str | None
    principals: tuple[str, ...]
    public_key: str
    valid_after: datetime
    valid_before: datetime
    revoked_at: datetime | None
    certificate: str = ""

    def valid_at(self, when: datetime) -> bool:
        return self.revoked_at is None and self.valid_after <= when < self.valid_before


@dataclass(frozen=True)
class CertificateRequest:
    kind: str
    subject: str
    customer_id: str
    contract_id: str | None
    principals: tuple[str, ...]
    public_key: str
    valid_after: datetime
    valid_before: datetime
    # user certificates: forwarding beyond a pty (``port``, ``agent``, ``x11``), only when
    # asked for; the addresses the certificate may be used from (empty: not bound)
    forwarding: tuple[str, ...] = ()
    source_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredKey:
    name: str
    public_key: str
    token: str


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _allocation(r: AllocationRow) -> Allocation:
    return Allocation(r.customer_id, r.site_id, r.node, r.address, r.status, r.public_key)


def allocations(ledger: Ledger, customer_id: str | None = None) -> list[Allocation]:
    q = select(AllocationRow).order_by(AllocationRow.id)
    if customer_id is not None:
        q = q.where(AllocationRow.customer_id == customer_id)
    with ledger.session() as s:
        return [_allocation(r) for r in s.scalars(q)]


def _find(ledger: Ledger, customer_id: str, node: str) -> Allocation | None:
    q = select(AllocationRow).where(
        AllocationRow.customer_id == customer_id, AllocationRow.node == node
    )
    with ledger.session() as s:
        row = s.scalars(q).first()
        return _allocation(row) if row else None


def allocate(
    ledger: Ledger, customer_id: str, site_id: str, node: str, free: Callable[[set[str]], str]
) -> Allocation:
    """The spoke's address: the one it already has, else ``free(used)`` claimed atomically.

    ``free`` raises when the pool is exhausted. A race with another grant ends in a unique
    violation; the loop then sees the other's row and tries again."""
    for _ in range(64):
        existing = _find(ledger, customer_id, node)
        if existing is not None:
            return existing
        with ledger.session() as s:
            used = set(s.scalars(select(AllocationRow.address)))
        address = free(used)
        try:
            with ledger.session() as s:
                s.add(
                    AllocationRow(
                        customer_id=customer_id, site_id=site_id, node=node, address=address
                    )
                )
        except IntegrityError:
            continue
    raise RuntimeError("address allocation did not settle after 64 attempts")


def set_allocation(
    ledger: Ledger, customer_id: str, node: str, status: str, public_key: str | None
) -> None:
    with ledger.session() as s:
        s.execute(
            update(AllocationRow)
            .where(AllocationRow.customer_id == customer_id, AllocationRow.node == node)
            .values(status=status, public_key=public_key, updated_at=utcnow())
        )


def release(ledger: Ledger, customer_id: str) -> list[Allocation]:
    """Delete the customer's allocations (their addresses become free); return them."""
    q = select(AllocationRow).where(AllocationRow.customer_id == customer_id)
    with ledger.session() as s:
        rows = list(s.scalars(q))
        gone = [_allocation(r) for r in rows]
        for r in rows:
            s.delete(r)
    return gone


def _certificate(r: CertificateRow) -> Certificate:
    return Certificate(
        serial=r.serial,
        kind=r.kind,
        subject=r.subject,
        customer_id=r.customer_id,
        contract_id=r.contract_id,
        principals=tuple(p for p in r.principals.split(",") if p),
        public_key=r.public_key,
        valid_after=_aware(r.valid_after),
        valid_before=_aware(r.valid_before),
        revoked_at=_aware(r.revoked_at) if r.revoked_at else None,
        certificate=r.certificate,
    )


def record_certificate(
    ledger: Ledger, req: CertificateRequest, sign: Callable[[int], str]
) -> tuple[Certificate, str]:
    """Reserve a serial, sign with it (``sign(serial)`` returns the certificate text) and
    commit both together: a failed signature leaves no row, a row always has its cert."""
    with ledger.session() as s:
        row = CertificateRow(
            kind=req.kind,
            subject=req.subject,
            customer_id=req.customer_id,
            contract_id=req.contract_id,
            principals=",".join(req.principals),
            public_key=req.public_key.strip(),
            valid_after=req.valid_after,
            valid_before=req.valid_before,
        )
        s.add(row)
        s.flush()
        row.certificate = sign(int(row.serial))
        s.flush()
        return _certificate(row), row.certificate


def certificates(
    ledger: Ledger,
    *,
    customer_id: str | None = None,
    subject: str | None = None,
    kind: str | None = None,
) -> list[Certificate]:
    q = select(CertificateRow).order_by(CertificateRow.serial)
    if customer_id is not None:
        q = q.where(CertificateRow.customer_id == customer_id)
    if subject is not None:
        q = q.where(CertificateRow.subject == subject)
    if kind is not None:
        q = q.where(CertificateRow.kind == kind)
    with ledger.session() as s:
        return [_certificate(r) for r in s.scalars(q)]


def revoke_certificates(
    ledger: Ledger, serials: Iterable[int], at: datetime | None = None
) -> list[int]:
    """Mark these certificates revoked (already revoked ones keep their date)."""
    wanted = sorted(set(serials))
    if not wanted:
        return []
    with ledger.session() as s:
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.serial.in_(wanted), CertificateRow.revoked_at.is_(None))
            .values(revoked_at=at or utcnow())
        )
    return wanted


def revoked_serials(ledger: Ledger) -> list[int]:
    q = select(CertificateRow.serial).where(CertificateRow.revoked_at.is_not(None))
    with ledger.session() as s:
        return sorted(int(x) for x in s.scalars(q))


def stored_key(ledger: Ledger, name: str) -> StoredKey | None:
    with ledger.session() as s:
        row = s.get(AccessKeyRow, name)
        return StoredKey(row.name, row.public_key, row.secret) if row else None


def store_key(ledger: Ledger, key: StoredKey) -> StoredKey:
    """Store a key unless one of that name exists; the first one stored wins."""
    try:
        with ledger.session() as s:
            s.add(AccessKeyRow(name=key.name, public_key=key.public_key, secret=key.token))
    except IntegrityError:
        pass
    stored = stored_key(ledger, key.name)
    assert stored is not None
    return stored


def delete_key(ledger: Ledger, name: str) -> None:
    with ledger.session() as s:
        row = s.get(AccessKeyRow, name)
        if row is not None:
            s.delete(row)
