"""SLA service: incidents with reaction deadlines, hour-package bookings.

Revision ID: 0005_sla
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_sla"
down_revision = "0001_base"
branch_labels = ("sla",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("host", sa.String(120), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(120), nullable=False),
        sa.Column("reaction_hours", sa.Float, nullable=False),
        sa.Column("hours_basis", sa.String(20), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(120), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(120), nullable=True),
        sa.Column("cause", sa.String(30), nullable=True),
        sa.Column("coverage", sa.Text, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_incidents_customer_opened", "incidents", ["customer_id", "opened_at"])
    op.create_index("ix_incidents_host_open", "incidents", ["host", "resolved_at"])
    op.create_table(
        "hour_bookings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("billable", sa.Boolean, nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_hour_bookings_customer", "hour_bookings", ["customer_id", "contract_id"])


def downgrade() -> None:
    op.drop_index("ix_hour_bookings_customer", "hour_bookings")
    op.drop_table("hour_bookings")
    op.drop_index("ix_incidents_host_open", "incidents")
    op.drop_index("ix_incidents_customer_opened", "incidents")
    op.drop_table("incidents")
