"""What every CLI command shares: the database option, a container opened for one command,
and printing rows as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from convroute.bootstrap import Container, bootstrap
from convroute.config import Settings
from convroute.domain.errors import ConvrouteError, StorageError
from convroute.storage.engines import backend_of, normalize_url, sqlite_path

DB_OPTION = click.option(
    "--database-url",
    envvar="CONVROUTE_DATABASE_URL",
    default=None,
    help="sqlite:///PATH (default sqlite:///convroute.db) or postgresql://USER@HOST/DB.",
)


def missing_database(settings: Settings) -> str | None:
    """The path of a SQLite database file that does not exist (None: it does, or it is not
    SQLite)."""
    url = normalize_url(settings.database_url)
    if backend_of(url) != "sqlite":  # (another backend is refused there, with its reason)
        return None
    path = sqlite_path(url)
    if path is None or str(path) == ":memory:" or Path(path).exists():
        return None
    return str(path)


@contextmanager
def opened(database_url: str | None, migrate: bool = True, **overrides: Any) -> Iterator[Container]:
    """A container for one command, its schema brought up to date first unless the command
    only reads (``migrate=False``: then the database must exist, a mistyped path is not
    silently a new empty database); errors become CLI errors."""
    try:
        settings = Settings.from_env(database_url=database_url, **overrides)
        if not migrate and (path := missing_database(settings)):
            raise click.ClickException(
                f"no database at {path}: check --database-url (or CONVROUTE_DATABASE_URL); "
                "a command that reads a database does not create one (convroute migrate does)"
            )
        c = bootstrap(settings, migrate=migrate)
    except ConvrouteError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        yield c
    except StorageError as exc:
        hint = "" if migrate else " (is the database migrated? convroute migrate)"
        raise click.ClickException(exc.message + hint) from exc
    except ConvrouteError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        c.close()


def print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        table(rows, columns)


def table(
    rows: list[dict[str, Any]], columns: list[str], echo: Callable[[str], None] = click.echo
) -> None:
    if not rows:
        echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    echo("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
