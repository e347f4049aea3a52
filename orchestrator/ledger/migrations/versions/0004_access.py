"""Remote access: tunnel address allocations, issued SSH certificates, encrypted access keys.

Revision ID: 0004_access
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_access"
down_revision = "0001_base"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_allocations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("site_id", sa.String(80), nullable=False),
        sa.Column("node", sa.String(120), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("public_key", sa.String(60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("address", name="uq_access_address"),
        sa.UniqueConstraint("customer_id", "node", name="uq_access_node"),
    )
    op.create_table(
        "access_certificates",
        sa.Column("serial", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("customer_id", sa.String(80), nullable=False),
        sa.Column("contract_id", sa.String(80), nullable=True),
        sa.Column("principals", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("valid_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_access_certificates_customer", "access_certificates", ["customer_id"])
    op.create_table(
        "access_keys",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("access_keys")
    op.drop_index("ix_access_certificates_customer", "access_certificates")
    op.drop_table("access_certificates")
    op.drop_table("access_allocations")
