"""Ticket-system link: incident <-> ticket (one to one), the outbox of ticket actions,
tickets from unknown senders waiting in triage.

Revision ID: 0007_tickets
Revises: 0006_hour_billing
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_tickets"
down_revision = "0006_hour_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_links",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, nullable=False, unique=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("last_txn", sa.Integer, nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "ticket_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("incident_id", "action", name="uq_ticket_outbox_action"),
    )
    op.create_table(
        "ticket_triage",
        sa.Column("ticket_id", sa.Integer, primary_key=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ticket_triage")
    op.drop_table("ticket_outbox")
    op.drop_table("ticket_links")
