"""A database with a past: the messages, decisions, states and conversion events of earlier
traffic, written before a benchmark's phases so that they run on tables of a production size.

Why: on an empty database every table the hot paths read is a few thousand rows, and
PostgreSQL's planner then reads them whole (a sequential scan is cheaper than an index for a
few pages by its costs) while a batch's lookups by message id are cheap index probes on any
table a real platform has (docs/benchmarks.md). The default is an hour of the busy platform
issue 20 names (100 messages a second: 360,000 messages), sent more than a day before, so the
router's start-up (it reads the last day of the log) does not replay them.

The rows are made by the database itself (one ``INSERT ... SELECT`` over a series per
table), not sent through Python, so a history of this size takes seconds.
"""

from __future__ import annotations

import time

from sqlalchemy import select, text

from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.storage import schema as t

HOUR_AT_100_PER_SECOND = 360_000
AGE_MS = 2 * 86_400_000  # sent two days before now: outside the router's one-day memory

HISTORY_IDS = "00000000-0000-7000-"
"""How every id of the history starts (no id convroute makes does: its ids begin with the time)."""
_ID = "'" + HISTORY_IDS + "{kind}-' || {pad12}"
_INSERTS = (  # one statement a table, over a series n = 1..:count
    (
        "INSERT INTO messages (id, account_id, src, dst, country, type, trackable, route_id, "
        "traffic_class, dialect, text_length, sent_ms) "
        "SELECT {mid}, :account, 'Bench', '+1415555' || {pad4}, 'US', 'otp', {true}, :route, "
        "'2fa', 'native', 6, :t0 + n FROM series"
    ),
    (
        "INSERT INTO routing_decisions (id, message_id, account_id, route_id, policy, "
        "probability, candidates, decided_ms, attempt) "
        "SELECT {did}, {mid}, :account, :route, 'convroute', 0.9, '[]', :t0 + n, 0 FROM series"
    ),
    (
        "INSERT INTO message_state (message_id, account_id, type, status, status_source, "
        "status_event_ms, status_received_ms, status_event_id, final, updated_ms) "
        "SELECT {mid}, :account, 'otp', 'converted', 'client', :t0 + n + 9000, "
        ":t0 + n + 9000, {eid}, {true}, :t0 + n + 9000 FROM series"
    ),
    (
        "INSERT INTO conversion_events (id, message_id, account_id, status, type, method, "
        "event_ms, received_ms, source, dialect, traffic_class, dedupe_key) "
        "SELECT {eid}, {mid}, :account, 'converted', 'otp', 'unknown', :t0 + n + 9000, "
        ":t0 + n + 9000, 'client', 'native', '2fa', {hex32} FROM series"
    ),
)


def _dialect_sql(backend: str, template: str) -> str:
    """``template`` over a series ``n`` = 1..:count, in the backend's own functions."""
    if backend == "postgresql":
        series = "WITH series AS (SELECT generate_series(1, :count) AS n) "
        pad12, pad4 = "lpad(n::text, 12, '0')", "lpad((n % 10000)::text, 4, '0')"
        hex32, true = "md5(n::text)", "true"
    else:
        series = (
            "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series "
            "WHERE n < :count) "
        )
        pad12, pad4 = "printf('%012d', n)", "printf('%04d', n % 10000)"
        hex32, true = "lower(hex(randomblob(16)))", "1"
    parts = {
        "pad12": pad12, "pad4": pad4, "hex32": hex32, "true": true,
        "mid": _ID.format(kind="8000", pad12=pad12),
        "did": _ID.format(kind="9000", pad12=pad12),
        "eid": _ID.format(kind="a000", pad12=pad12),
    }  # fmt: skip
    return series + template.format(**parts)


def fill_history(database_url: str, account_id: str, messages: int, secret_key: str) -> float:
    """Write ``messages`` earlier messages of ``account_id`` over the route named ``bench``,
    each with its decision, its state and a conversion event; the seconds it took. A database
    that has a history already (a run before this one wrote it) is left as it is."""
    if messages <= 0:
        return 0.0
    started = time.perf_counter()
    c = bootstrap(Settings(database_url=database_url, secret_key=secret_key))
    try:
        first = f"{HISTORY_IDS}8000-{1:012d}"  # (its first message's id, as _ID makes it)
        m = t.messages.c
        if c.store.read(lambda conn: conn.execute(select(m.id).where(m.id == first)).first()):
            return 0.0
        t0 = c.clock() - AGE_MS - messages
        route = c.store.route("bench").id
        values = {"count": messages, "account": account_id, "route": route, "t0": t0}
        with c.store.engines.writer.begin() as conn:
            for template in _INSERTS:
                conn.execute(text(_dialect_sql(c.store.backend, template)), values)
        # A past is written out: its pages checkpointed long ago, not during the phases
        # (SQLite does it when the last connection closes, below), and on PostgreSQL
        # analysed, as autovacuum would have over an hour of such traffic (SQLite keeps no
        # statistics unless asked; a deployment of it would not have them either).
        if c.store.backend == "postgresql":
            with c.store.engines.writer.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
                conn.execute(text("CHECKPOINT"))
                conn.commit()
    finally:
        c.close()
    return time.perf_counter() - started
