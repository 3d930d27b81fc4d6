"""The periodic sweeps, one call each for the server and the command line: every due
conversion window closed (in batches of ``WINDOW_BATCH``) and the expired signature nonces
forgotten; messages past their retention purged (``retention.py``). Each takes ``run``, which
carries out one command in its own transaction and answers its result: the server's writer
(``GroupCommitter.execute_sync``) or, from the CLI, a direct write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convroute.domain.commands import (
    WINDOW_BATCH,
    CloseWindows,
    NoncesPurged,
    PurgeNonces,
    WindowsClosed,
)

Run = Callable[[Any], Any]


def close_all_due(run: Run) -> int:
    """Close every window due now, a batch per transaction; how many were closed."""
    total = 0
    while True:
        done = run(CloseWindows(WINDOW_BATCH))
        assert isinstance(done, WindowsClosed)
        total += done.closed
        if done.closed < WINDOW_BATCH:
            return total


def sweep(run: Run) -> tuple[int, int]:
    """Close every due window, then forget the expired nonces: (closed, nonces purged)."""
    closed = close_all_due(run)
    purged = run(PurgeNonces())
    assert isinstance(purged, NoncesPurged)
    return closed, purged.purged
