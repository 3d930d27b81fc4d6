"""each account's own routing: the objective its sends are valued by and the routes it
allows or forbids (issue 22)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("routing_goal", sa.String(20), nullable=True))
        batch.add_column(sa.Column("routing_lambda", sa.Float(), nullable=True))
        batch.add_column(sa.Column("routing_epsilon", sa.Float(), nullable=True))
        batch.add_column(sa.Column("routes_allowed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("routes_forbidden", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("routes_forbidden")
        batch.drop_column("routes_allowed")
        batch.drop_column("routing_epsilon")
        batch.drop_column("routing_lambda")
        batch.drop_column("routing_goal")
