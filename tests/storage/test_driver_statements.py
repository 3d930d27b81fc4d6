"""The hot statements written for the driver (``storage/engines.py``): inserts and updates of
many rows, and lookups of many values, give what SQLAlchemy's own would, on every backend
(on PostgreSQL they are one statement over arrays, ``unnest`` and ``= ANY``)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, select

from convroute.bootstrap import Container
from convroute.storage import schema as t
from convroute.storage.engines import (
    driver_column_in,
    driver_insert,
    driver_update,
    insert_new_keys,
    one_of,
)


def _decision(n: int, probability: float | int, reason: str | None) -> dict[str, Any]:
    return {
        "id": f"decision-{n}",
        "message_id": f"message-{n}",
        "account_id": "account",
        "route_id": "route",
        "policy": "p",
        "probability": probability,
        "candidates": "[]",
        "decided_ms": 1_000 + n,
        "attempt": n % 3,
        "reason": reason,
    }


def _write(container: Container, work: Any) -> None:
    with container.store.engines.writer.begin() as conn:
        work(conn)


def _read(container: Container, work: Any) -> Any:
    return container.store.read(work)


def _rows(container: Container, *columns: Any) -> list[tuple[Any, ...]]:
    """``columns`` of every row, as tuples, in the order of the first."""
    query = select(*columns).order_by(columns[0])
    return [tuple(r) for r in _read(container, lambda conn: conn.execute(query).all())]


def test_rows_of_mixed_numbers_and_empty_columns_go_in_and_come_back(
    container: Container,
) -> None:
    # an int among floats (psycopg refuses a list of mixed types), a column of NULLs only
    rows = [_decision(n, 1 if n == 0 else 0.25 * n, None) for n in range(4)]
    _write(container, lambda conn: driver_insert(conn, "routing_decisions", rows))
    d = t.routing_decisions.c
    assert _rows(container, d.id, d.probability, d.attempt, d.reason) == [
        (f"decision-{n}", 1.0 if n == 0 else 0.25 * n, n % 3, None) for n in range(4)
    ]


def test_updates_reach_exactly_their_rows(container: Container) -> None:
    state = {
        "account_id": "account", "type": "otp", "status": None, "status_source": None,
        "status_event_ms": None, "status_received_ms": None, "status_event_id": None,
        "final": False, "dlr_status": None, "dlr_ms": None, "window_due_ms": 5_000,
        "updated_ms": 1,
    }  # fmt: skip
    rows = [{"message_id": f"m{n}", **state} for n in range(5)]
    _write(container, lambda conn: driver_insert(conn, "message_state", rows))
    changed = [
        {"message_id": f"m{n}", "status": "converted", "final": 1, "window_due_ms": None}
        for n in (1, 3)
    ]  # (an int for a boolean, as a row read back from SQLite may carry)
    _write(container, lambda conn: driver_update(conn, "message_state", "message_id", changed))
    s = t.message_state.c
    assert _rows(container, s.message_id, s.status, s.final, s.window_due_ms) == [
        (f"m{n}", "converted", True, None) if n in (1, 3) else (f"m{n}", None, False, 5_000)
        for n in range(5)
    ]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.sets(st.integers(0, 40), max_size=12),
    asked=st.lists(st.integers(0, 60), max_size=20),
)
def test_lookups_of_many_values_find_exactly_the_stored_ones(
    container: Container, stored: set[int], asked: list[int]
) -> None:
    def reset(conn: Connection) -> None:
        conn.execute(delete(t.used_nonces))
        driver_insert(
            conn, "used_nonces", [{"key": f"k{n}", "expires_ms": n} for n in sorted(stored)]
        )

    _write(container, reset)
    keys = [f"k{n}" for n in asked]
    expected = {f"k{n}" for n in asked if n in stored}
    found = _read(container, lambda conn: driver_column_in(conn, "key", "used_nonces", keys))
    assert sorted(found) == sorted(expected)
    c = t.used_nonces.c
    if keys:  # (an empty IN is SQLAlchemy's own case; the store never asks it)
        clause = _read(
            container,
            lambda conn: set(
                conn.execute(select(c.key).where(one_of(conn, c.key, keys))).scalars()
            ),
        )
        assert clause == expected


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.sets(st.integers(0, 30), max_size=10),
    new=st.sets(st.integers(0, 30), max_size=10),
    lookup=st.sets(st.integers(0, 60), max_size=10),
)
@example(stored={0}, new=set(), lookup={0})  # nothing to insert: the lookup still runs
def test_new_keys_go_in_once_and_the_stored_ones_are_found(
    container: Container, stored: set[int], new: set[int], lookup: set[int]
) -> None:
    """``insert_new_keys``: the rows whose key is not stored go in, the stored ones keep their
    values, and the keys looked up are found exactly where stored (the used signatures'
    claim, one statement on PostgreSQL)."""

    def reset(conn: Connection) -> None:
        conn.execute(delete(t.used_nonces))
        driver_insert(conn, "used_nonces", [{"key": f"k{n}", "expires_ms": 1} for n in stored])

    _write(container, reset)
    rows = [{"key": f"k{n}", "expires_ms": 2} for n in sorted(new)]
    keys = [f"k{n}" for n in sorted(lookup)]
    got: list[tuple[set[str], set[str]]] = []
    _write(
        container, lambda conn: got.append(insert_new_keys(conn, "used_nonces", "key", rows, keys))
    )
    inserted, found = got[0]
    assert inserted == {f"k{n}" for n in new - stored}
    assert found == {f"k{n}" for n in lookup & stored}
    expected = {(f"k{n}", 1) for n in stored} | {(f"k{n}", 2) for n in new - stored}
    assert set(_rows(container, t.used_nonces.c.key, t.used_nonces.c.expires_ms)) == expected
