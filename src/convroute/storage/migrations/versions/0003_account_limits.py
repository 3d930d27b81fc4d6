"""account rate limits and change times (credential lifecycle, rate limiting); the index
retention purges messages by

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("rate_limit_per_second", sa.Float(), nullable=True))
        batch.add_column(sa.Column("updated_ms", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_messages_sent_ms"), "messages", ["sent_ms"])


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_sent_ms"), table_name="messages")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("updated_ms")
        batch.drop_column("rate_limit_per_second")
