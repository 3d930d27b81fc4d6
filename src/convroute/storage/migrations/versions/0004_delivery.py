"""delivery that survives a crash: the outbox of messages still to hand to their route, the
upstream's ids of what a route took (receipts are matched through them), and failover
decisions (a message's later attempts on other routes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("tried", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_due_ms"), "outbox", ["due_ms"])
    op.create_table(
        "upstream_ids",
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("upstream_id", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("route_id", "upstream_id", name=op.f("pk_upstream_ids")),
    )
    op.create_index(op.f("ix_upstream_ids_message_id"), "upstream_ids", ["message_id"])
    with op.batch_alter_table("routing_decisions") as batch:
        batch.add_column(
            sa.Column("attempt", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_decisions") as batch:
        batch.drop_column("reason")
        batch.drop_column("attempt")
    op.drop_index(op.f("ix_upstream_ids_message_id"), table_name="upstream_ids")
    op.drop_table("upstream_ids")
    op.drop_index(op.f("ix_outbox_due_ms"), table_name="outbox")
    op.drop_table("outbox")
