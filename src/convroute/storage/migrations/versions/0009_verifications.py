"""verifications: codes convroute sends and checks itself, kept as keyed hashes (issue 23), and
each account's fraud guard in front of them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("verify_guard", sa.Text(), nullable=True))
    op.create_table(
        "verifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("dst", sa.String(20), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("network", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("code_length", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("route_id", sa.String(36), nullable=True),
        sa.Column("client_ref", sa.String(200), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_verifications_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
    )
    op.create_index(
        "ix_verifications_account_created", "verifications", ["account_id", "created_ms"]
    )
    op.create_table(
        "verify_guard_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("decision", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_guard_events")),
    )
    op.create_index(
        "ix_verify_guard_events_account_at", "verify_guard_events", ["account_id", "at_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_verify_guard_events_account_at", table_name="verify_guard_events")
    op.drop_table("verify_guard_events")
    op.drop_index("ix_verifications_account_created", table_name="verifications")
    op.drop_table("verifications")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("verify_guard")
