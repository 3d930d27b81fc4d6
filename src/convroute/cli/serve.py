"""``convroute serve``, ``migrate`` and ``secret-key``: the server's commands (thin: the
server itself is ``api.server.run_server``)."""

from __future__ import annotations

import dataclasses

import click

from convroute.bootstrap import bootstrap
from convroute.cli.util import DB_OPTION, opened
from convroute.config import Settings
from convroute.domain.errors import ConvrouteError


@click.command()
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
    from convroute.api.server import run_server
    from convroute.cli import demo as demo_setup
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
        if settings.writer == "auto":  # served: the writer on a core of its own
            settings = dataclasses.replace(settings, writer="process")
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
    engine = "compiled" if compiled() else "Python source"
    click.echo(
        f"convroute: serving on {base_url} ({c.store.backend}, "
        f"{settings.workers} worker(s), routing engine: {engine}); "
        f"dashboard at {base_url}/dashboard, API reference at {base_url}/docs"
    )
    run_server(c)


@click.command()
@DB_OPTION
def migrate(database_url: str | None) -> None:
    """Bring the database schema up to date (serve does this at start).

    Example: convroute migrate --database-url postgresql://app@db/convroute
    """
    with opened(database_url) as c:
        click.echo(f"convroute: {c.store.backend} schema is up to date")


@click.command("secret-key")
def secret_key() -> None:
    """Print a new CONVROUTE_SECRET_KEY (required with PostgreSQL).

    Example: convroute secret-key  (then: export CONVROUTE_SECRET_KEY=<printed key>)
    """
    from convroute.storage.secretbox import new_key

    click.echo(new_key())
