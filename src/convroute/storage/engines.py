"""Database engines: SQLite (embedded default, WAL, fsync on every commit) and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Float,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import QueuePool

from convroute.domain.errors import ValidationError
from convroute.storage.schema import metadata

IN_CHUNK = 500
"""Values per ``IN (...)`` list (SQLite's statements take a bounded number of them)."""


def chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    """``items`` in slices of ``IN_CHUNK``, one ``IN (...)`` list each."""
    return [items[i : i + IN_CHUNK] for i in range(0, len(items), IN_CHUNK)]


@dataclass(frozen=True)
class Engines:
    """The engine the single writer uses and the one readers share (the same one on
    PostgreSQL; two on SQLite, where the writer takes the write lock up front)."""

    writer: Engine
    reader: Engine
    backend: str

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` for the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgresql``; anything else is refused."""
    try:
        backend = make_url(normalize_url(url)).get_backend_name()
    except Exception as exc:
        raise ValidationError.field("database_url", f"is not a database URL: {exc}") from exc
    if backend not in ("sqlite", "postgresql"):
        raise ValidationError.field(
            "database_url", f"must be sqlite:///PATH or postgresql://..., got {backend!r}"
        )
    return backend


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    return None if database in (None, "", ":memory:") else Path(database)


def create_engines(url: str) -> Engines:
    """Build the engines for ``url``."""
    url = normalize_url(url)
    backend = backend_of(url)
    if backend == "postgresql":
        engine = create_engine(
            url, poolclass=QueuePool, pool_size=8, max_overflow=8, pool_pre_ping=True
        )
        return Engines(writer=engine, reader=engine, backend=backend)
    path = sqlite_path(url)
    if path is None:
        raise ValidationError.field(
            "database_url",
            "an in-memory SQLite database cannot be shared between connections; give a file path",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=2)
    reader = create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=8)
    _configure_sqlite(writer, begin="BEGIN IMMEDIATE")
    _configure_sqlite(reader, begin="BEGIN")
    return Engines(writer=writer, reader=reader, backend=backend)


def _configure_sqlite(engine: Engine, begin: str) -> None:
    # pysqlite's own transaction handling is turned off so that we choose how BEGIN is
    # issued: IMMEDIATE for writers (so concurrent writers queue on busy_timeout instead of
    # failing on lock upgrade), plain for readers.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def driver_insert(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys, values as the driver takes them) with the
    driver's own ``executemany``: for the hot inserts of a batch, SQLAlchemy's per-row
    parameter processing cost more than the database's own work (docs/benchmarks.md). On
    PostgreSQL, one statement over one array a column (``unnest``) instead of a statement a
    row: the driver's pipeline and the server's executor then work once a batch."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name == "postgresql":
        sources, arrays = _unnest(conn, table, columns, rows)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {sources}"
        conn.exec_driver_sql(sql, arrays)
        return
    marks = ", ".join(_mark(conn, c) for c in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def driver_update(conn: Connection, table: str, key: str, rows: list[dict[str, Any]]) -> None:
    """Update ``table``'s row whose ``key`` is each row's with the row's other values (every
    row with the same keys, each ``key`` once), in one statement on PostgreSQL (over one
    array a column, as ``driver_insert``), by the driver's ``executemany`` elsewhere."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if conn.dialect.name == "postgresql":
        names = [key, *columns]
        sources, arrays = _unnest(conn, table, names, rows)
        sets = ", ".join(f"{c} = v.{c}" for c in columns)
        sql = (
            f"UPDATE {table} AS t SET {sets} FROM {sources} AS v({', '.join(names)}) "
            f"WHERE t.{key} = v.{key}"
        )
        conn.exec_driver_sql(sql, arrays)
        return
    sets = ", ".join(f"{c} = {_mark(conn, c)}" for c in columns)
    sql = f"UPDATE {table} SET {sets} WHERE {key} = {_mark(conn, key)}"
    conn.exec_driver_sql(sql, rows)


def insert_new_keys(
    conn: Connection, table: str, key: str, rows: list[dict[str, Any]], lookup: Sequence[str]
) -> tuple[set[str], set[str]]:
    """Insert those of ``rows`` (each ``key`` once) whose ``key`` is not in ``table`` yet, and
    look ``lookup``'s keys up; the keys inserted, and those of ``lookup`` found. On PostgreSQL
    one statement (``ON CONFLICT DO NOTHING``: a key another transaction is inserting waits
    for it, then counts as there if it committed), in one round trip; elsewhere the lookup,
    then the insert of the new rows (SQLite has one writer)."""
    columns = list(rows[0]) if rows else []
    if rows and conn.dialect.name == "postgresql":
        sources, arrays = _unnest(conn, table, columns, rows)
        sql = (
            f"WITH new AS (INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {sources} "
            f"ON CONFLICT DO NOTHING RETURNING {key}) SELECT {key}, TRUE FROM new "
            f"UNION ALL SELECT {key}, FALSE FROM {table} WHERE {key} = ANY(%(lookup)s)"
        )
        inserted: set[str] = set()
        found: set[str] = set()
        for value, new in conn.exec_driver_sql(sql, {**arrays, "lookup": list(lookup)}):
            (inserted if new else found).add(value)
        return inserted, found
    wanted = sorted({row[key] for row in rows} | set(lookup))
    there: set[str] = set()
    for chunk in chunks(wanted):
        there.update(driver_column_in(conn, key, table, chunk))
    driver_insert(conn, table, [row for row in rows if row[key] not in there])
    return {row[key] for row in rows} - there, there & set(lookup)


def _unnest(
    conn: Connection, table: str, columns: list[str], rows: list[dict[str, Any]]
) -> tuple[str, dict[str, list[Any]]]:
    """``unnest(%(a0)s::T0[], ...)`` over ``columns`` of ``rows``, and its arrays. psycopg
    refuses a list of mixed types (an int among floats), so a float or boolean column's values
    are made floats or booleans first."""
    kinds = _pg_types(conn.dialect, table, tuple(columns))
    arrays: dict[str, list[Any]] = {}
    for i, (column, (_, convert)) in enumerate(zip(columns, kinds, strict=True)):
        values = [row[column] for row in rows]
        if convert is not None:
            values = [v if v is None else convert(v) for v in values]
        arrays[f"a{i}"] = values
    casts = ", ".join(f"%(a{i})s::{kind}[]" for i, (kind, _) in enumerate(kinds))
    return f"unnest({casts})", arrays


@functools.lru_cache(maxsize=256)
def _pg_types(
    dialect: Dialect, table: str, columns: tuple[str, ...]
) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """PostgreSQL's type of each of ``table``'s ``columns`` (an array of them is cast to it),
    with what makes a value of a float or boolean column one."""
    out: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in columns:
        kind = metadata.tables[table].c[column].type
        convert = float if isinstance(kind, Float) else bool if isinstance(kind, Boolean) else None
        out.append((kind.compile(dialect=dialect), convert))
    return tuple(out)


def driver_column_in(conn: Connection, column: str, table: str, values: Sequence[str]) -> list[Any]:
    """``SELECT column FROM table WHERE column IN (values)`` through the driver, for a hot
    lookup of a batch: SQLAlchemy's expanding ``IN`` costs more than the indexed read. On
    PostgreSQL, ``= ANY`` of one array (``one_of`` says why)."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        sql = f"SELECT {column} FROM {table} WHERE {column} = ANY(%(values)s)"
        return [row[0] for row in conn.exec_driver_sql(sql, {"values": list(values)})]
    names = {f"v{i}": value for i, value in enumerate(values)}
    marks = ", ".join(_mark(conn, name) for name in names)
    sql = f"SELECT {column} FROM {table} WHERE {column} IN ({marks})"
    return [row[0] for row in conn.exec_driver_sql(sql, names)]


def one_of(
    conn: Connection, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:values)``, one array parameter.
    Why: an ``IN`` list is a different statement for every batch size, and a long one: the
    driver parses it again each time (it caches statements under 4 KiB), SQLAlchemy renders a
    placeholder and a cast per value, and PostgreSQL plans it afresh; one array is one short
    statement, prepared once (docs/benchmarks.md)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _mark(conn: Connection, name: str) -> str:
    """The driver's placeholder for a named parameter: psycopg's %(x)s, else sqlite3's :x."""
    return f"%({name})s" if conn.dialect.paramstyle == "pyformat" else f":{name}"
