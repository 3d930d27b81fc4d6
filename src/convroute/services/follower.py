"""Keeps a ``LiveRouter`` current by tailing the event log in a background thread.

``catch_up`` reads once (at start-up, the rebuild); the thread then reads every
``interval_s``. A read that fails (the database is away) is logged and retried: the router
keeps routing on what it knew, and catches up when the log answers again.
"""

from __future__ import annotations

import logging
import threading

from convroute.domain.clock import Clock
from convroute.domain.errors import ConvrouteError
from convroute.services.checkpoints import Checkpointing
from convroute.services.ports import Checkpoint, EventLog
from convroute.services.router import LiveRouter

log = logging.getLogger("convroute.routing")


class LogFollower:
    """Reads the log into the router, now and then every ``interval_s``."""

    def __init__(
        self,
        log: EventLog,
        router: LiveRouter,
        clock: Clock,
        interval_s: float,
        checkpoints: Checkpointing | None = None,
    ) -> None:
        self.log = log
        self.router = router
        self.clock = clock
        self.interval_s = interval_s
        self.checkpoints = checkpoints
        self.polls = 0
        self.failures = 0
        self.restored: Checkpoint | None = None  # the checkpoint it started from, if any
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self, now_ms: int | None = None) -> int:
        """Read what the log gained and apply it, then let the router look at what is due
        (``LiveRouter.advance``); how many entries were read. The first read (the rebuild)
        starts from the latest checkpoint where there is one, and is replayed in time order
        over its last hour (``LiveRouter.replay``)."""
        now = self.clock() if now_ms is None else now_ms
        if self.polls == 0 and self.checkpoints is not None and self.restored is None:
            self.restored = self.checkpoints.restore(self.router, self.log)
        batch = self.log.poll(now)
        if self.polls == 0:
            self.router.replay(batch)
        else:
            self.router.apply(batch)
        self.router.advance(now)
        self.polls += 1
        return len(batch)

    def start(self) -> None:
        """Start following (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="convroute-log-follower")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop following and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.catch_up()
            except ConvrouteError as exc:
                self.failures += 1
                log.warning("reading the event log failed (will retry): %s", exc.message)
