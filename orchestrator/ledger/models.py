"""SQLAlchemy models of the ledger: the per-contract record of everything pbxops did.

Only the ledger package knows SQL. Other modules call ``Ledger`` methods and get plain
dataclasses back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite keeps no offset: store every moment as UTC (naive input is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Action(Base):
    """One thing pbxops did, against the contract it was done under.

    ``contract_id`` is NULL only for work done without any contract (billable); the
    ``kind`` says which part of the tool acted (``wave.host``, ``access.grant``, ...).
    """

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    host: Mapped[str | None] = mapped_column(String(120), nullable=True)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(30), nullable=False, default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_actions_customer_at", "customer_id", "at"),
        Index("ix_actions_contract", "contract_id"),
    )


class Lock(Base):
    """A named lock held in the database, so it also holds across machines (PostgreSQL)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
