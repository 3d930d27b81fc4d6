"""conversions forwarded upstream: the forwards still to report to the provider a message
went out through, and which of a route's upstream ids a conversion is reported under

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forwards",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("upstream_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("event_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forwards")),
    )
    op.create_index(op.f("ix_forwards_due_ms"), "forwards", ["due_ms"])
    with op.batch_alter_table("upstream_ids") as batch:
        batch.add_column(
            sa.Column("forward", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("upstream_ids") as batch:
        batch.drop_column("forward")
    op.drop_index(op.f("ix_forwards_due_ms"), table_name="forwards")
    op.drop_table("forwards")
