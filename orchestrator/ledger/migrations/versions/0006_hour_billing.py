"""Hour bookings carry their billing verdict (free / package / billable) and its reason.

Revision ID: 0006_hour_billing
Revises: 0005_sla
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_hour_billing"
down_revision = "0005_sla"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hour_bookings", sa.Column("billing", sa.String(20), nullable=True))
    op.add_column("hour_bookings", sa.Column("reason", sa.Text, nullable=True))
    op.execute(
        "UPDATE hour_bookings SET billing = CASE WHEN billable THEN 'billable' "
        "ELSE 'package' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("hour_bookings") as batch:
        batch.drop_column("reason")
        batch.drop_column("billing")
