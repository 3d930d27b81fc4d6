"""``convroute windows`` and ``convroute retention``: the sweeps a server runs by itself, for
cron or maintenance (``services/sweeps.py``, ``services/retention.py``)."""

from __future__ import annotations

from functools import partial
from typing import Any

import click

from convroute.bootstrap import Container
from convroute.cli.util import DB_OPTION, opened
from convroute.domain.clock import format_iso
from convroute.domain.commands import Purged, PurgeOld
from convroute.domain.errors import ConvrouteError
from convroute.services.retention import cutoff, purge_all
from convroute.services.sweeps import sweep
from convroute.services.writer import handle_batch


def _write(c: Container, command: Any) -> Any:
    """One batch command in its own transaction, as the server's writer would run it."""
    work = partial(handle_batch, commands=[command], now_ms=c.clock(), router=c.router)
    (outcome,) = c.store.write(work)
    if isinstance(outcome, ConvrouteError):
        raise outcome
    return outcome


@click.group()
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


@click.group()
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
