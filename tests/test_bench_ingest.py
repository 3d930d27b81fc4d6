"""The ingest benchmark's own parts: the order of the dialects' comparison (a balanced Latin
square) and the history written before its phases, on every backend."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from benchmarks.history import AGE_MS, fill_history
from benchmarks.ingest import orders
from benchmarks.server import prepare_database
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.storage import schema as t
from convroute.storage.engines import sqlite_path
from convroute.storage.secretbox import new_key


@given(st.integers(min_value=1, max_value=9))
def test_every_item_takes_every_position_and_follows_every_other_once(n: int) -> None:
    items = [f"d{i}" for i in range(n)]
    full = 2 * n if n % 2 else n
    rows = orders(items, full)
    assert all(sorted(row) == items for row in rows)
    square = rows[:n]
    for position in range(n):
        assert sorted(row[position] for row in square) == items
    follows = [pair for row in rows for pair in pairwise(row)]
    expected = {(a, b) for a in items for b in items if a != b}
    assert set(follows) == expected
    assert len(follows) == len(expected) * (2 if n % 2 else 1)


def test_rounds_beyond_the_square_repeat_its_rows() -> None:
    rows = orders(["a", "b", "c", "d"], 9)
    assert rows[4:8] == rows[:4]
    assert rows[8] == rows[0]


def test_the_history_is_written_before_the_routers_day(database_url: str) -> None:
    key = new_key()
    account = prepare_database(database_url, key)["account"]
    assert isinstance(account, dict)
    took = fill_history(database_url, account["id"], 2_000, key)
    assert took > 0
    if database_url.startswith("sqlite"):  # written out: nothing left in the WAL to do
        wal = Path(f"{sqlite_path(database_url)}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    c = bootstrap(Settings(database_url=database_url, secret_key=key), migrate=False)
    try:

        def counts(conn: object) -> dict[str, int]:
            return {
                table.name: conn.execute(  # type: ignore[attr-defined]
                    select(func.count()).select_from(table)
                ).scalar_one()
                for table in (
                    t.messages, t.routing_decisions, t.message_state, t.conversion_events
                )
            }  # fmt: skip

        assert c.store.read(counts) == dict.fromkeys(
            ("messages", "routing_decisions", "message_state", "conversion_events"), 2_000
        )
        newest = c.store.read(
            lambda conn: conn.execute(select(func.max(t.messages.c.sent_ms))).scalar_one()
        )
        assert newest < c.clock() - AGE_MS + 60_000  # outside the router's one-day memory
        keys = c.store.read(
            lambda conn: conn.execute(
                select(func.count(func.distinct(t.conversion_events.c.dedupe_key)))
            ).scalar_one()
        )
        assert keys == 2_000
        # the router that starts on it reads none of it: it is older than its day
        assert c.follower.catch_up() == 0
        # a second run on the same database finds it there and writes nothing
        again = prepare_database(database_url, key)["account"]
        assert isinstance(again, dict)
        assert fill_history(database_url, again["id"], 2_000, key) == 0.0
        assert c.store.read(counts)["messages"] == 2_000
    finally:
        c.close()
