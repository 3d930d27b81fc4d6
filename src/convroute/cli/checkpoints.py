"""``convroute routes checkpoint`` and ``routes checkpoints``: the router's checkpoints
(``services/checkpoints.py``). A server makes one every ``routing_checkpoint_seconds`` by
running the first in a child process."""

from __future__ import annotations

import os

import click

from convroute.bootstrap import ROUTING_SETTINGS, make_checkpoint, with_stored_routing
from convroute.cli.util import DB_OPTION, opened, table
from convroute.domain.clock import format_iso
from convroute.domain.errors import ConvrouteError
from convroute.storage.checkpoints import SqlCheckpoints


@click.command("checkpoint")
@click.option("--keep", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Checkpoints kept (the newest).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="Print nothing on success.")
@DB_OPTION
def routes_checkpoint(keep: int, quiet: bool, database_url: str | None) -> None:
    """Make a checkpoint of the router's state from the log: the latest checkpoint and the
    log since (or the whole log), so servers start from it and replay only what came after.
    Uses the routing settings the last server on this database ran with.

    Example: convroute routes checkpoint
    """
    explicit = {k for k in ROUTING_SETTINGS if f"CONVROUTE_{k.upper()}" in os.environ}
    with opened(database_url, migrate=False) as opened_c:
        c, _ = with_stored_routing(opened_c, explicit)
        try:
            made = make_checkpoint(c, keep=keep)
        except ConvrouteError as exc:
            raise click.ClickException(exc.message) from exc
    if quiet:
        return
    start = (
        "the whole log"
        if made.since is None
        else f"the checkpoint of {format_iso(made.since.created_ms)}"
    )
    click.echo(
        f"convroute: checkpoint of {made.checkpoint.applied:,} log entries "
        f"({len(made.checkpoint.state) / 1e6:.1f} MB) made in {made.seconds:.1f} s "
        f"from {start} and {made.tail:,} entries after it"
    )


@click.command("checkpoints")
@DB_OPTION
def routes_checkpoints(database_url: str | None) -> None:
    """List the router's checkpoints kept in the database, newest first.

    Example: convroute routes checkpoints
    """
    with opened(database_url, migrate=False) as c:
        kept = SqlCheckpoints(c.store.engines).checkpoints()
        current = c.checkpoints.routing_key
    if not kept:
        click.echo(
            "convroute: no checkpoint yet (a server makes one every "
            "routing_checkpoint_seconds; or run: convroute routes checkpoint)"
        )
        return
    rows = [
        {
            "made": format_iso(made),
            "log entries": f"{applied:,}",
            "size": f"{size / 1e6:.1f} MB",
            "routing key": key + ("" if key == current else " (another code or setting)"),
        }
        for key, made, applied, size in kept
    ]
    table(rows, ["made", "log entries", "size", "routing key"])
