"""Phone provisioning: encrypted SIP credentials per extension, spare-parts stock movements.

Revision ID: 0003_phones
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_phones"
down_revision = "0001_base"
branch_labels = ("phones",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hostname", sa.String(120), nullable=False),
        sa.Column("extension", sa.String(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("hostname", "extension", name="uq_phone_credential"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vendor", sa.String(40), nullable=False),
        sa.Column("model", sa.String(60), nullable=False),
        sa.Column("count_delta", sa.Integer, nullable=False),
        sa.Column("reserved_delta", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("customer_id", sa.String(80), nullable=True),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("action_id", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_stock_movements_item", "stock_movements", ["vendor", "model"])


def downgrade() -> None:
    op.drop_index("ix_stock_movements_item", "stock_movements")
    op.drop_table("stock_movements")
    op.drop_table("phone_credentials")
