"""used nonces: replay protection for signed requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "used_nonces",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_used_nonces")),
    )
    op.create_index(op.f("ix_used_nonces_expires_ms"), "used_nonces", ["expires_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_used_nonces_expires_ms"), table_name="used_nonces")
    op.drop_table("used_nonces")
