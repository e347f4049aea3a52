"""Ledger tables of phone provisioning and hardware maintenance.

- ``phone_credentials``: one SIP account per (PBX, extension); the password is stored only
  as an encrypted token (``orchestrator.secrets.Vault``), never in plaintext.
- ``stock_movements``: every change of the spare-parts stock (received, reserved, released,
  used in a swap). The book's ``stock.yml`` is the baseline; baseline + movements = stock.

Other packages call the functions below and get plain dataclasses back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .db import ActionRecord, Ledger, add_action
from .models import Base, utcnow


class PhoneCredential(Base):
    __tablename__ = "phone_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(String(120), nullable=False)
    extension: Mapped[str] = mapped_column(String(16), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)  # Fernet token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("hostname", "extension", name="uq_phone_credential"),)


class StockMovementRow(Base):
    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    vendor: Mapped[str] = mapped_column(String(40), nullable=False)
    model: Mapped[str] = mapped_column(String(60), nullable=False)
    count_delta: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    customer_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    action_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


@dataclass(frozen=True)
class StoredCredential:
    username: str
    token: str  # encrypted; decrypt with the Vault


@dataclass(frozen=True)
class StockMovement:
    vendor: str
    model: str
    kind: str  # receive | reserve | release | swap
    actor: str
    count_delta: int = 0
    reserved_delta: int = 0
    customer_id: str | None = None
    contract_id: str | None = None
    note: str = ""
    at: datetime | None = None
    id: int | None = None


def stored_credentials(ledger: Ledger, hostname: str) -> dict[str, StoredCredential]:
    """Extension -> stored (encrypted) credential of one PBX."""
    q = select(PhoneCredential).where(PhoneCredential.hostname == hostname)
    with ledger.session() as s:
        return {r.extension: StoredCredential(r.username, r.secret) for r in s.scalars(q)}


def add_credentials(
    ledger: Ledger, hostname: str, new: Mapping[str, StoredCredential]
) -> dict[str, StoredCredential]:
    """Store credentials for extensions that have none; return what is stored afterwards.

    When another process stored some first, theirs win (the unique key decides).
    """
    try:
        with ledger.session() as s:
            for ext, cred in sorted(new.items()):
                s.add(
                    PhoneCredential(
                        hostname=hostname, extension=ext, username=cred.username, secret=cred.token
                    )
                )
    except IntegrityError:
        for ext, cred in sorted(new.items()):
            _add_one(ledger, hostname, ext, cred)
    return stored_credentials(ledger, hostname)


def _add_one(ledger: Ledger, hostname: str, ext: str, cred: StoredCredential) -> None:
    try:
        with ledger.session() as s:
            s.add(
                PhoneCredential(
                    hostname=hostname, extension=ext, username=cred.username, secret=cred.token
                )
            )
    except IntegrityError:
        pass


def stock_movements(ledger: Ledger) -> list[StockMovement]:
    q = select(StockMovementRow).order_by(StockMovementRow.at, StockMovementRow.id)
    with ledger.session() as s:
        return [_movement(r) for r in s.scalars(q)]


def record_movement(
    ledger: Ledger, movement: StockMovement, action: ActionRecord | None = None
) -> int | None:
    """Store a stock movement and (optionally) the action it belongs to, in one transaction.

    Returns the action's id (None without an action).
    """
    with ledger.session() as s:
        action_id = add_action(s, action) if action is not None else None
        s.add(_movement_row(movement, action_id))
    return action_id


def _movement_row(m: StockMovement, action_id: int | None) -> StockMovementRow:
    return StockMovementRow(
        at=m.at or utcnow(),
        vendor=m.vendor,
        model=m.model,
        count_delta=m.count_delta,
        reserved_delta=m.reserved_delta,
        kind=m.kind,
        actor=m.actor,
        customer_id=m.customer_id,
        contract_id=m.contract_id,
        action_id=action_id,
        note=m.note,
    )


def _movement(r: StockMovementRow) -> StockMovement:
    return StockMovement(
        vendor=r.vendor,
        model=r.model,
        kind=r.kind,
        actor=r.actor,
        count_delta=r.count_delta,
        reserved_delta=r.reserved_delta,
        customer_id=r.customer_id,
        contract_id=r.contract_id,
        note=r.note,
        at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
        id=r.id,
    )
