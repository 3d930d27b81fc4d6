"""Schema migrations (Alembic), run by ``convroute serve`` at start and by the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

_SCRIPTS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_424_011  # advisory lock: instances starting together migrate once


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config over the package's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), "head")
