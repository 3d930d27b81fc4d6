"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:50:14.734889
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("conversions_enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "conversion_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("event_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=True),
        sa.Column("traffic_class", sa.String(length=8), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_conversion_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_conversion_events_dedupe_key")),
        sa.UniqueConstraint("id", name=op.f("uq_conversion_events_id")),
    )
    with op.batch_alter_table("conversion_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversion_events_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "dlr_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("event_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dlr_events")),
        sa.UniqueConstraint("id", name=op.f("uq_dlr_events_id")),
    )
    with op.batch_alter_table("dlr_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dlr_events_message_id"), ["message_id"], unique=False)

    op.create_table(
        "message_state",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("status_source", sa.String(length=8), nullable=True),
        sa.Column("status_event_ms", sa.BigInteger(), nullable=True),
        sa.Column("status_received_ms", sa.BigInteger(), nullable=True),
        sa.Column("status_event_id", sa.String(length=36), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("dlr_status", sa.String(length=16), nullable=True),
        sa.Column("dlr_ms", sa.BigInteger(), nullable=True),
        sa.Column("window_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_state")),
    )
    with op.batch_alter_table("message_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_state_window_due_ms"), ["window_due_ms"], unique=False
        )

    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("name", name=op.f("uq_routes_name")),
    )
    op.create_table(
        "routing_decisions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("route_id", sa.String(length=36), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("decided_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_routing_decisions")),
        sa.UniqueConstraint("id", name=op.f("uq_routing_decisions_id")),
    )
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_decisions_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "account_windows",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_windows_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "type", name=op.f("pk_account_windows")),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("traffic_class", sa.String(length=8), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=True),
        sa.Column("signature_method", sa.String(length=16), nullable=True),
        sa.Column("signature_secret_enc", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_credentials_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("dialect", "key_id", name=op.f("uq_credentials_dialect_key_id")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_account_id"), ["account_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("src", sa.String(length=32), nullable=False),
        sa.Column("dst", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("trackable", sa.Boolean(), nullable=False),
        sa.Column("client_ref", sa.String(length=200), nullable=True),
        sa.Column("route_id", sa.String(length=36), nullable=True),
        sa.Column("traffic_class", sa.String(length=8), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("text_length", sa.Integer(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_messages_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_messages")),
        sa.UniqueConstraint("id", name=op.f("uq_messages_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_client_ref"),
            ["account_id", "client_ref"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_sent_ms"), ["account_id", "sent_ms"], unique=False
        )

    op.create_table(
        "route_destinations",
        sa.Column("route_id", sa.String(length=36), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routes.id"], name=op.f("fk_route_destinations_route_id_routes")
        ),
        sa.PrimaryKeyConstraint(
            "route_id", "country", "network", name=op.f("pk_route_destinations")
        ),
    )


def downgrade() -> None:
    op.drop_table("route_destinations")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_account_id_sent_ms"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_client_ref"))

    op.drop_table("messages")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_account_id"))

    op.drop_table("credentials")
    op.drop_table("account_windows")
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_decisions_message_id"))

    op.drop_table("routing_decisions")
    op.drop_table("routes")
    with op.batch_alter_table("message_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_state_window_due_ms"))

    op.drop_table("message_state")
    with op.batch_alter_table("dlr_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dlr_events_message_id"))

    op.drop_table("dlr_events")
    with op.batch_alter_table("conversion_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_events_message_id"))

    op.drop_table("conversion_events")
    op.drop_table("accounts")
