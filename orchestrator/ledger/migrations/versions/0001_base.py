"""Base ledger: the per-contract action record and database locks.

Revision ID: 0001_base
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("host", sa.String(120), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_actions_customer_at", "actions", ["customer_id", "at"])
    op.create_index("ix_actions_contract", "actions", ["contract_id"])
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_index("ix_actions_contract", "actions")
    op.drop_index("ix_actions_customer_at", "actions")
    op.drop_table("actions")
