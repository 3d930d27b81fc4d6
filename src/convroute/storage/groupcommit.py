"""Group commit: one writer thread applies every queued command of a moment in one
transaction and answers each only after that transaction committed.

While one batch commits (an fsync on SQLite), the next one fills up, so the cost of
durability is shared by every request that arrived meanwhile instead of paid by each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from convroute.domain.clock import Clock
from convroute.domain.errors import ConvrouteError, StorageError, WriteConflict
from convroute.services.ports import WriteTransaction
from convroute.storage.store import SqlStore

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 3
"""How often a transaction that lost a unique-key race to another writer is run again."""

BatchHandler = Callable[[WriteTransaction, Sequence[Any], int], Sequence[Any]]


@dataclass(slots=True)
class _Item:
    command: Any
    future: asyncio.Future[Any] | Future[Any]
    loop: asyncio.AbstractEventLoop | None


_STOP = object()


class GroupCommitter:
    """Queues commands for the single writer thread; ``execute`` answers after the commit."""

    def __init__(
        self, store: SqlStore, handler: BatchHandler, clock: Clock, max_batch: int = 2000
    ) -> None:
        self._store = store
        self._handler = handler
        self._clock = clock
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.commands = 0
        self.conflicts = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="convroute-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Apply what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def execute(self, command: Any) -> Any:
        """Queue ``command``; its result once durable, or its error (nothing written)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Item(command, future, loop))
        return await future

    def execute_sync(self, command: Any, timeout: float = 60.0) -> Any:
        """``execute`` for callers without an event loop (CLI, tests)."""
        future: Future[Any] = Future()
        self._queue.put(_Item(command, future, None))
        return future.result(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Item] = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._deliver(batch, self._apply([i.command for i in batch]))
            if stop:
                return

    def _apply(self, commands: list[Any]) -> Sequence[Any]:
        try:
            outcomes = self._commit(commands)
        except Exception as exc:
            if len(commands) == 1:
                return [self._as_error(exc)]
            # One bad command must not fail its neighbours: retry each in its own transaction.
            log.warning("batch of %d failed (%s); retrying one by one", len(commands), exc)
            outcomes = []
            for command in commands:
                try:
                    outcomes.extend(self._commit([command]))
                except Exception as one_exc:
                    outcomes.append(self._as_error(one_exc))
        self.batches += 1
        self.commands += len(commands)
        return outcomes

    def _commit(self, commands: list[Any]) -> Sequence[Any]:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._store.write(self._work(commands, self._clock()))
            except WriteConflict:
                # Another instance committed the same key (an identical report, the same
                # signature) between our read and our write: run again, and the commands
                # see its row and answer duplicate or replay, as they would have in order.
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                self.conflicts += 1
        raise AssertionError("unreachable")

    def _work(
        self, commands: list[Any], now_ms: int
    ) -> Callable[[WriteTransaction], Sequence[Any]]:
        return lambda tx: self._handler(tx, commands, now_ms)

    @staticmethod
    def _as_error(exc: Exception) -> ConvrouteError:
        if isinstance(exc, ConvrouteError):
            return exc
        log.exception("writer failed", exc_info=exc)
        return StorageError("internal error while storing; nothing was recorded")

    @staticmethod
    def _deliver(batch: list[_Item], outcomes: Sequence[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.loop is None:
                assert isinstance(item.future, Future)
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            else:
                by_loop.setdefault(item.loop, []).append((item.future, outcome))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve_all, pairs)


def _resolve_all(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the client went away; the write stands
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
