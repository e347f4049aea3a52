"""Ledger tables of update waves: the plan, and one row per host that is written before
and after each step, so a crash or Ctrl-C at any moment can be resumed exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from .db import Ledger
from .models import Action, Base, utcnow

# Host states as stored (the engine's typed HostState in orchestrator/waves/states.py has
# the same values and the transitions). Final: all but pending and running.
PENDING, RUNNING, DONE, FAILED, ROLLED_BACK, SKIPPED, DEFERRED, EXCLUDED = (
    "pending",
    "running",
    "done",
    "failed",
    "rolled_back",
    "skipped",
    "deferred",
    "excluded",
)
ALREADY_AT_TARGET, CANCELLED = "already_at_target", "cancelled"
FINAL = frozenset(
    {DONE, ALREADY_AT_TARGET, FAILED, ROLLED_BACK, SKIPPED, DEFERRED, EXCLUDED, CANCELLED}
)


class Wave(Base):
    __tablename__ = "waves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    target: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="planned")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class WaveHost(Base):
    __tablename__ = "wave_hosts"
    __table_args__ = (UniqueConstraint("wave_id", "hostname", name="uq_wave_host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id"), nullable=False, index=True)
    hostname: Mapped[str] = mapped_column(String(120), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(80), nullable=False)
    contract_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    batch: Mapped[int] = mapped_column(Integer, nullable=False, default=-1)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=PENDING)
    step: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    version_before: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    version_after: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


@dataclass(frozen=True)
class WaveRow:
    id: int
    release_id: str
    kind: str
    target: str
    status: str
    reason: str
    created_at: datetime
    created_by: str
    plan: dict[str, Any]
    options: dict[str, Any]


@dataclass(frozen=True)
class HostRow:
    hostname: str
    customer_id: str
    contract_id: str | None
    batch: int
    status: str
    step: str
    version_before: str
    version_after: str
    error: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    detail: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _wave_row(w: Wave) -> WaveRow:
    return WaveRow(
        w.id,
        w.release_id,
        w.kind,
        w.target,
        w.status,
        w.reason,
        w.created_at,
        w.created_by,
        dict(w.plan),
        dict(w.options or {}),
    )


def _host_row(h: WaveHost) -> HostRow:
    return HostRow(
        h.hostname,
        h.customer_id,
        h.contract_id,
        h.batch,
        h.status,
        h.step,
        h.version_before,
        h.version_after,
        h.error,
        h.attempts,
        h.started_at,
        h.finished_at,
        dict(h.detail or {}),
    )


def create_wave(
    ledger: Ledger,
    plan: dict[str, Any],
    actor: str,
    hosts: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
) -> int:
    """Save a plan and one row per host (``hosts``: hostname, customer_id, contract_id,
    batch, status)."""
    with ledger.session() as s:
        wave = Wave(
            release_id=plan["release"],
            kind=plan["kind"],
            target=plan["target"],
            created_by=actor,
            plan=plan,
            options=options or {},
        )
        s.add(wave)
        s.flush()
        for h in hosts:
            s.add(WaveHost(wave_id=wave.id, **h))
        s.add(
            Action(
                actor=actor,
                kind="wave.plan",
                customer_id="*",
                contract_id=None,
                summary=f"wave {wave.id} planned: {plan['release']} on {len(hosts)} systems",
                outcome="ok",
                detail={"wave": wave.id},
                at=utcnow(),
            )
        )
        return int(wave.id)


def get_wave(ledger: Ledger, wave_id: int) -> WaveRow | None:
    with ledger.session() as s:
        w = s.get(Wave, wave_id)
        return _wave_row(w) if w else None


def list_waves(ledger: Ledger, limit: int = 20) -> list[WaveRow]:
    with ledger.session() as s:
        rows = s.scalars(select(Wave).order_by(Wave.id.desc()).limit(limit))
        return [_wave_row(w) for w in rows]


def host_rows(ledger: Ledger, wave_id: int) -> list[HostRow]:
    with ledger.session() as s:
        q = (
            select(WaveHost)
            .where(WaveHost.wave_id == wave_id)
            .order_by(WaveHost.batch, WaveHost.hostname)
        )
        return [_host_row(h) for h in s.scalars(q)]


def set_wave_status(ledger: Ledger, wave_id: int, status: str, reason: str = "") -> None:
    with ledger.session() as s:
        w = s.get(Wave, wave_id)
        if w is not None:
            w.status, w.reason = status, reason


def set_wave_options(ledger: Ledger, wave_id: int, options: dict[str, Any]) -> None:
    """Replace the wave's recorded options (halt overrides, windows overridden, ...)."""
    with ledger.session() as s:
        w = s.get(Wave, wave_id)
        if w is not None:
            w.options = dict(options)


def set_step(ledger: Ledger, wave_id: int, hostname: str, step: str) -> None:
    """Move a running host's row to its next step (the phase its tasks are in now). No
    action row: the per-contract record gets the host's start and result, not each phase."""
    with ledger.session() as s:
        row = s.scalars(
            select(WaveHost).where(WaveHost.wave_id == wave_id, WaveHost.hostname == hostname)
        ).one()
        row.step = step


def update_host(
    ledger: Ledger,
    wave_id: int,
    hostname: str,
    actor: str,
    *,
    summary: str,
    outcome: str = "ok",
    **fields: Any,
) -> None:
    """Change a host's row and write the matching action row, in one transaction."""
    with ledger.session() as s:
        row = s.scalars(
            select(WaveHost).where(WaveHost.wave_id == wave_id, WaveHost.hostname == hostname)
        ).one()
        for key, value in fields.items():
            setattr(row, key, value)
        s.add(
            Action(
                actor=actor,
                kind=f"wave.{fields.get('status', row.status)}",
                customer_id=row.customer_id,
                contract_id=row.contract_id,
                host=hostname,
                summary=summary,
                outcome=outcome,
                at=utcnow(),
                detail={
                    "wave": wave_id,
                    "step": row.step,
                    "version_before": row.version_before,
                    "version_after": row.version_after,
                    "error": row.error,
                },
            )
        )
