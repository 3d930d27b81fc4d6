"""Migrations produce exactly the schema the code describes, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from convroute.bootstrap import Container
from convroute.storage.schema import metadata


def test_migrated_database_matches_the_schema(container: Container) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(conn), metadata)

    assert container.store.read(diff) == []


def test_migrate_is_idempotent(container: Container) -> None:
    container.store.migrate()
    container.store.migrate()
