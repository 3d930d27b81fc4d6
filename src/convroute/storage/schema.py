"""The SQL schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` must match it; a
test checks that they do.

Event tables (``messages``, ``routing_decisions``, ``conversion_events``, ``dlr_events``) are
append-only logs with an integer ``seq`` for tailing; ``message_state`` is current state
derived from them. Times are epoch milliseconds (UTC) in BIGINT columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Seq = BigInteger().with_variant(Integer(), "sqlite")
Ms = BigInteger

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_ms", Ms, nullable=False),
    Column("conversions_enabled", Boolean, nullable=False, default=True),
    # requests per second the account may make (NULL: the installation's default)
    Column("rate_limit_per_second", Float),
    # set on every change an instance must see at once (authentication caches compare it)
    Column("updated_ms", Ms),
    # the account's own routing (NULL: the installation's objective, every route): the goal
    # (conversions | value | cheapest-within) with its lambda and epsilon, and the route ids
    # it allows (none listed: all) and forbids, as JSON lists
    Column("routing_goal", String(20)),
    Column("routing_lambda", Float),
    Column("routing_epsilon", Float),
    Column("routes_allowed", Text),
    Column("routes_forbidden", Text),
    # the fraud guard in front of its verifications (JSON, ``services/guard.py``; NULL: the
    # defaults)
    Column("verify_guard", Text),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("dialect", String(16), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("traffic_class", String(8), nullable=False),
    Column("workspace_id", String(64)),
    Column("signature_method", String(16)),
    Column("signature_secret_enc", Text),
    Column("created_ms", Ms, nullable=False),
    # when the credential stops working: now (revoked) or later (rotated, with an overlap)
    Column("revoked_ms", Ms),
    UniqueConstraint("dialect", "key_id"),
)

account_windows = Table(
    "account_windows",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("seconds", Integer, nullable=False),
)

routes = Table(
    "routes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("connector", String(32), nullable=False),
    Column("config", Text, nullable=False, default="{}"),
    Column("created_ms", Ms, nullable=False),
)

route_destinations = Table(
    "route_destinations",
    metadata,
    Column("route_id", String(36), ForeignKey("routes.id"), primary_key=True),
    Column("country", String(3), primary_key=True),
    # '' means every network of the country: primary-key columns cannot be NULL.
    Column("network", String(64), primary_key=True, default=""),
    Column("price", Float, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("src", String(32), nullable=False),
    Column("dst", String(20), nullable=False),
    Column("country", String(3), nullable=False),
    Column("network", String(64)),
    Column("type", String(16), nullable=False),
    Column("trackable", Boolean, nullable=False),
    Column("client_ref", String(200)),
    Column("route_id", String(36)),
    Column("traffic_class", String(8), nullable=False),
    Column("dialect", String(16), nullable=False),
    Column("text_length", Integer, nullable=False),
    Column("sent_ms", Ms, nullable=False, index=True),  # retention purges the oldest
    Index(None, "account_id", "sent_ms"),
    Index(None, "account_id", "client_ref"),
)

routing_decisions = Table(
    "routing_decisions",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("account_id", String(36), nullable=False),
    Column("route_id", String(36), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("candidates", Text, nullable=False),
    Column("decided_ms", Ms, nullable=False),
    # 0 for the first decision; a message its route refused is routed again (failover) as
    # attempt 1, 2, ... with the reason
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("reason", Text),
)

message_state = Table(
    "message_state",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(32)),
    Column("status_source", String(8)),
    Column("status_event_ms", Ms),
    Column("status_received_ms", Ms),
    Column("status_event_id", String(36)),
    Column("final", Boolean, nullable=False, default=False),
    Column("dlr_status", String(16)),
    Column("dlr_ms", Ms),
    # Set while a trackable message awaits a final status; cleared once it has one or the
    # window closed. Indexed: the window sweeper scans it.
    Column("window_due_ms", Ms, index=True),
    Column("updated_ms", Ms, nullable=False),
)

conversion_events = Table(
    "conversion_events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("account_id", String(36), nullable=False),
    Column("status", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("method", String(16), nullable=False),
    Column("event_ms", Ms, nullable=False),
    Column("received_ms", Ms, nullable=False),
    Column("source", String(8), nullable=False),
    Column("dialect", String(16)),
    Column("traffic_class", String(8)),
    # Identical reports about a message share a key (it hashes the message id too): the
    # unique constraint makes repeats idempotent, and a batch checks its keys in one probe each.
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("raw", Text),
)

dlr_events = Table(
    "dlr_events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("account_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("event_ms", Ms, nullable=False),
    Column("received_ms", Ms, nullable=False),
    Column("error_code", String(32)),
    Column("raw", Text),
)

# Signatures of accepted signed requests (Vonage ``sig``), kept until the request's timestamp
# could no longer be accepted: a replayed request finds its nonce here and is refused.
used_nonces = Table(
    "used_nonces",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_ms", Ms, nullable=False, index=True),
)

# Messages still to hand to their route (delivery at least once): written in the same commit
# as the message, the payload (its text among it) encrypted with the secret box, deleted once
# the route took it or its window closed. ``due_ms`` is when an instance may (re)try it: a
# lease while one submits it, a back-off after a refusal.
outbox = Table(
    "outbox",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("route_id", String(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("tried", Text, nullable=False),  # JSON list of the routes that refused it
    Column("payload", Text, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("due_ms", Ms, nullable=False, index=True),
    Column("expires_ms", Ms, nullable=False),
    Column("last_error", Text),
)

# The ids an upstream (an SMSC, a provider) gave the messages it took: its receipts name them.
upstream_ids = Table(
    "upstream_ids",
    metadata,
    Column("route_id", String(36), primary_key=True),
    Column("upstream_id", String(100), primary_key=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("account_id", String(36), nullable=False),
    Column("created_ms", Ms, nullable=False),
    # the id conversions are reported under, on a route that forwards them (the first part's)
    Column("forward", Boolean, nullable=False, server_default=false()),
)

# Conversions still to report to the provider the message went out through (a provider
# route with forward_conversions): written in the commit that records the conversion,
# deleted once the provider took it. ``due_ms`` is when an instance may (re)try it (a lease,
# a back-off); NULL once it failed for good (kept for operators: /metrics counts them).
forwards = Table(
    "forwards",
    metadata,
    Column("id", String(36), primary_key=True),  # the conversion event's
    Column("message_id", String(36), nullable=False),
    Column("account_id", String(36), nullable=False),
    Column("route_id", String(36), nullable=False),
    Column("upstream_id", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("method", String(16), nullable=False),
    Column("event_ms", Ms, nullable=False),
    Column("created_ms", Ms, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("due_ms", Ms, index=True),
    Column("last_error", Text),
)

# The settings a server runs with, by name (JSON): ``routing`` holds the routing settings, so
# a command reading the same database (``routes quality``) rebuilds the router the server has.
service_settings = Table(
    "service_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_ms", Ms, nullable=False),
)

# Checkpoints of the live router's state (``services/checkpoints.py``): the state as of a
# position in the log (``position``: each log table's read marks, JSON), for the routing code
# and settings ``routing_key`` names; signed (``digest``, HMAC-SHA256 with the service's key).
router_checkpoints = Table(
    "router_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("routing_key", String(64), nullable=False),
    Column("created_ms", Ms, nullable=False),
    Column("position", Text, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Index("ix_router_checkpoints_key", "routing_key", "created_ms"),
)

# Verifications (``domain/verify.py``): the code only as a keyed hash; ``message_id`` the
# latest message, whose conversion events the outcomes are. ``attempts`` and ``sends`` are
# claimed by conditional updates, so concurrent checks never exceed ``max_attempts``.
verifications = Table(
    "verifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("dst", String(20), nullable=False),
    Column("country", String(3), nullable=False),
    Column("network", String(64), nullable=True),
    Column("channel", String(10), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("code_length", Integer, nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("sends", Integer, nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("route_id", String(36), nullable=True),
    Column("client_ref", String(200), nullable=True),
    Column("created_ms", Ms, nullable=False),
    Column("expires_ms", Ms, nullable=False),
    Column("updated_ms", Ms, nullable=False),
    Index("ix_verifications_account_created", "account_id", "created_ms"),
)

# What the fraud guard refused (or let through while monitoring): nothing was sent for a
# refused verification; this is its only trace (the dashboard's and the insights' counts).
verify_guard_events = Table(
    "verify_guard_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(36), nullable=False),
    Column("decision", String(12), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("country", String(3), nullable=False),
    Column("at_ms", Ms, nullable=False),
    Index("ix_verify_guard_events_account_at", "account_id", "at_ms"),
)
