"""The command line: each command reads options, makes one library call, prints the result.
Library errors become CLI errors here, at the edge."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import click

from convroute.accountscli import accounts
from convroute.bootstrap import Container, bootstrap
from convroute.cliutil import DB_OPTION, opened
from convroute.config import Settings
from convroute.domain.clock import format_iso
from convroute.domain.errors import ConvrouteError
from convroute.routescli import routes
from convroute.services.messaging import handle_batch
from convroute.services.retention import Purged, PurgeOld, cutoff, purge_all
from convroute.services.sweeps import sweep
from convroute.simcli import bench, simulate_command


@click.group()
@click.version_option(package_name="convroute")
def main() -> None:
    """convroute: conversion feedback APIs and conversion-driven SMS routing.

    Every command reads CONVROUTE_* environment variables (see docs/configuration.md).
    """


@main.command()
@click.option("--host", envvar="CONVROUTE_HOST", default=None, help="Address to bind [127.0.0.1].")
@click.option("--port", envvar="CONVROUTE_PORT", type=int, default=None, help="Port [8080].")
@click.option(
    "--workers", envvar="CONVROUTE_WORKERS", type=int, default=None, help="Worker processes [1]."
)
@click.option("--demo", is_flag=True, help="Create a demo account and demo routes if missing.")
@click.option(
    "--ssl-certfile",
    envvar="CONVROUTE_SSL_CERTFILE",
    default=None,
    help="Serve HTTPS with this PEM certificate (chain).",
)
@click.option(
    "--ssl-keyfile", envvar="CONVROUTE_SSL_KEYFILE", default=None, help="The certificate's key."
)
@DB_OPTION
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    demo: bool,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    database_url: str | None,
) -> None:
    """Serve the HTTP API (migrates the database first); HTTPS with --ssl-certfile.

    Example: convroute serve --port 8443 --ssl-certfile cert.pem --ssl-keyfile key.pem
    """
    import uvicorn

    from convroute import demo as demo_setup
    from convroute import logs
    from convroute.api.app import create_app
    from convroute.api.server import uvicorn_options
    from convroute.sim.run import compiled

    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            workers=workers,
            database_url=database_url,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        if demo:
            settings = demo_setup.demo_settings(settings)
        c = bootstrap(settings)
        created = demo_setup.ensure_demo(c) if demo else None
    except ConvrouteError as exc:
        raise click.ClickException(exc.message) from exc
    scheme = "https" if settings.ssl_certfile else "http"
    base_url = f"{scheme}://{settings.host}:{settings.port}"
    if created is not None:
        click.echo(demo_setup.usage(created, base_url))
    elif demo:
        click.echo(
            "convroute: the demo account exists already (its secrets were shown when it was "
            f"created and are in {demo_setup.credentials_path(settings)})."
        )
    if demo:
        click.echo(demo_setup.learning(settings, base_url))
    log_config = logs.configure(settings.log_level)
    engine = "compiled" if compiled() else "Python source"
    click.echo(
        f"convroute: serving on {base_url} ({c.store.backend}, "
        f"{settings.workers} worker(s), routing engine: {engine}); "
        f"API reference at {base_url}/docs"
    )
    common: dict[str, Any] = {
        **uvicorn_options(settings),
        "log_config": log_config,
        "access_log": settings.access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(c), **common)
        c.store.close()
        return
    c.close()  # the workers build their own from the environment (uvicorn_options set it)
    uvicorn.run(
        "convroute.api.app:app_from_environment", factory=True, workers=settings.workers, **common
    )


def _write(c: Container, command: Any) -> Any:
    """One batch command in its own transaction, as the server's writer would run it."""
    (outcome,) = c.store.write(partial(handle_batch, commands=[command], now_ms=c.clock()))
    if isinstance(outcome, ConvrouteError):
        raise outcome
    return outcome


@main.command()
@DB_OPTION
def migrate(database_url: str | None) -> None:
    """Bring the database schema up to date (serve does this at start).

    Example: convroute migrate --database-url postgresql://app@db/convroute
    """
    with opened(database_url) as c:
        click.echo(f"convroute: {c.store.backend} schema is up to date")


@main.command("secret-key")
def secret_key() -> None:
    """Print a new CONVROUTE_SECRET_KEY (required with PostgreSQL).

    Example: convroute secret-key  (then: export CONVROUTE_SECRET_KEY=<printed key>)
    """
    from convroute.storage.secretbox import new_key

    click.echo(new_key())


@main.group()
def windows() -> None:
    """Conversion windows."""


@windows.command("close")
@DB_OPTION
def windows_close(database_url: str | None) -> None:
    """Close every due conversion window now (for cron; the server also does it on its own).

    Example: convroute windows close
    """
    with opened(database_url) as c:
        closed, purged = sweep(partial(_write, c))
    click.echo(f"closed {closed} conversion window(s); forgot {purged} expired nonce(s)")


@main.group()
def retention() -> None:
    """Retention: delete old messages and everything about them."""


@retention.command("purge")
@click.option(
    "--older-than",
    "days",
    type=float,
    default=None,
    help="Age in days (at least 2); default CONVROUTE_RETENTION_DAYS.",
)
@click.option("--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@DB_OPTION
def retention_purge(days: float | None, batch: int, database_url: str | None) -> None:
    """Delete messages sent more than --older-than days ago (not those whose conversion
    window is still open), with their state, routing decision and events, in batches of
    --batch (each its own short transaction). Safe beside a running server.

    Example: convroute retention purge --older-than 90
    """
    with opened(database_url) as c:
        age = c.settings.retention_days if days is None else days
        if not age:
            raise click.UsageError("give --older-than DAYS or set CONVROUTE_RETENTION_DAYS")
        before = cutoff(c.clock(), age)
        click.echo(f"purging messages sent before {format_iso(before)} ({age:g} days ago)")
        total = 0

        def run(command: PurgeOld) -> Purged:
            nonlocal total
            done: Purged = _write(c, command)
            total += done.messages
            if done.messages:
                click.echo(f"  {total} messages so far", err=True)
            return done

        purged = purge_all(run, before, batch)
    rows = ", ".join(f"{n} {table}" for table, n in purged.counts.items())
    click.echo(f"purged {rows or 'nothing'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


main.add_command(simulate_command)
main.add_command(routes)
main.add_command(accounts)
main.add_command(bench)
