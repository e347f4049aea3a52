"""Update waves: plans and per-host rows.

Revision ID: 0002_waves
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_waves"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
    )
    op.create_table(
        "wave_hosts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), nullable=False, index=True),
        sa.Column("hostname", sa.String(120), nullable=False),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("version_before", sa.String(60), nullable=False),
        sa.Column("version_after", sa.String(60), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.UniqueConstraint("wave_id", "hostname", name="uq_wave_host"),
    )


def downgrade() -> None:
    op.drop_table("wave_hosts")
    op.drop_table("waves")
