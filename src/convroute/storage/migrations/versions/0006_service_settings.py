"""the settings a server runs with, kept with the database (the routing settings, so a
command reading the same database rebuilds the router the server has)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_settings")),
    )


def downgrade() -> None:
    op.drop_table("service_settings")
