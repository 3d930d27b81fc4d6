"""checkpoints of the live router's state: a server starts from the latest and replays only
the log since

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "router_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("routing_key", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_router_checkpoints")),
    )
    op.create_index(
        "ix_router_checkpoints_key", "router_checkpoints", ["routing_key", "created_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_router_checkpoints_key", table_name="router_checkpoints")
    op.drop_table("router_checkpoints")
