"""Alembic environment: the connection is handed in by ``orchestrator.ledger.db``."""

from __future__ import annotations

from alembic import context

from orchestrator.ledger.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through Ledger.upgrade()
    raise RuntimeError("run migrations through `pbxops db upgrade`")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
