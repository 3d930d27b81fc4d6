"""Database engines: SQLite (embedded default, WAL, fsync on every commit) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from convroute.domain.errors import ValidationError


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
    parameter processing cost more than the database's own work (docs/benchmarks.md)."""
    if not rows:
        return
    columns = list(rows[0])
    marks = ", ".join(_mark(conn, c) for c in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def driver_column_in(conn: Connection, column: str, table: str, values: Sequence[str]) -> list[Any]:
    """``SELECT column FROM table WHERE column IN (values)`` through the driver, for a hot
    lookup of a batch: SQLAlchemy's expanding ``IN`` costs more than the indexed read."""
    if not values:
        return []
    names = {f"v{i}": value for i, value in enumerate(values)}
    marks = ", ".join(_mark(conn, name) for name in names)
    sql = f"SELECT {column} FROM {table} WHERE {column} IN ({marks})"
    return [row[0] for row in conn.exec_driver_sql(sql, names)]


def _mark(conn: Connection, name: str) -> str:
    """The driver's placeholder for a named parameter: psycopg's %(x)s, else sqlite3's :x."""
    return f"%({name})s" if conn.dialect.paramstyle == "pyformat" else f":{name}"
