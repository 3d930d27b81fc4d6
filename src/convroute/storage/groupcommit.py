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
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, overload

from convroute.domain.clock import Clock
from convroute.domain.commands import (
    BatchCommand,
    Claimed,
    ClaimForwards,
    ClaimSubmissions,
    CloseWindows,
    ConversionRecorded,
    DlrRecorded,
    ForwardDone,
    ForwardFailed,
    ForwardsClaimed,
    ForwardSettled,
    MessageAccepted,
    NoncesPurged,
    Purged,
    PurgeNonces,
    PurgeOld,
    RecordConversion,
    RecordDlr,
    Refusal,
    Result,
    SendMessage,
    SubmissionCleared,
    SubmissionDone,
    SubmissionRefused,
    WindowsClosed,
)
from convroute.domain.errors import ConvrouteError, StorageError, WriteConflict
from convroute.domain.pickling import by_fields
from convroute.observe import events
from convroute.observe.metrics import Metrics
from convroute.services.ports import WriteTransaction

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 3
"""How often a transaction that lost a unique-key race to another writer is run again."""

Outcome = Result | ConvrouteError
BatchHandler = Callable[[WriteTransaction, Sequence[BatchCommand], int], Sequence[Outcome]]
"""Carries out a batch of commands in one transaction: one outcome per command, in order."""
Write = Callable[[Callable[[WriteTransaction], Sequence[Outcome]]], Sequence[Outcome]]
"""Runs work in one write transaction, committed when it returns (``SqlStore.write``)."""


@dataclass(slots=True)
class _Item:
    command: BatchCommand
    future: asyncio.Future[Result] | Future[Result]
    loop: asyncio.AbstractEventLoop | None


_STOP = object()


@by_fields
@dataclass(frozen=True, slots=True)
class Applied:
    """What a batch came to: one outcome per command, in order; how often its transaction
    lost a unique-key race and ran again; whether it failed as a whole (then each command
    was run in its own transaction)."""

    outcomes: Sequence[Outcome]
    conflicts: int = 0
    failed: bool = False


class Writer(Protocol):
    """What carries out the batches: ``BatchWriter`` in this process, or a writer process
    (``storage/writerproc.py``), started with the committer and closed with it."""

    def __call__(self, commands: list[BatchCommand]) -> Applied:
        """Carry out one batch, durably, before returning."""
        ...

    def start(self) -> None: ...

    def wait_ready(self) -> bool:
        """Wait until a batch can be taken; whether one can."""
        ...

    def close(self) -> None: ...


class BatchWriter:
    """Carries out one batch in one transaction, run again when it lost a unique-key race;
    where the transaction fails, each command in its own, so one bad command does not fail
    its neighbours."""

    def __init__(self, write: Write, handler: BatchHandler, clock: Clock) -> None:
        self._write = write
        self._handler = handler
        self._clock = clock

    def start(self) -> None:
        """(Nothing to start: the batches run in the committer's thread.)"""

    def wait_ready(self) -> bool:
        return True

    def close(self) -> None:
        """(Nothing to close: the store is the container's.)"""

    def __call__(self, commands: list[BatchCommand]) -> Applied:
        conflicts = [0]
        try:
            return Applied(list(self._commit(commands, conflicts)), conflicts[0])
        except Exception as exc:
            events.writer_failed(len(commands), exc)
            if len(commands) == 1:
                return Applied([as_error(exc)], conflicts[0], failed=True)
            outcomes: list[Outcome] = []
            for command in commands:
                try:
                    outcomes.extend(self._commit([command], conflicts))
                except Exception as one_exc:
                    outcomes.append(as_error(one_exc))
            return Applied(outcomes, conflicts[0], failed=True)

    def _commit(self, commands: list[BatchCommand], conflicts: list[int]) -> Sequence[Outcome]:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._write(self._work(commands, self._clock()))
            except WriteConflict:
                # Another instance committed the same key (an identical report, the same
                # signature) between our read and our write: run again, and the commands
                # see its row and answer duplicate or replay, as they would have in order.
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                conflicts[0] += 1
        raise AssertionError("unreachable")

    def _work(
        self, commands: list[BatchCommand], now_ms: int
    ) -> Callable[[WriteTransaction], Sequence[Outcome]]:
        return lambda tx: self._handler(tx, commands, now_ms)


def as_error(exc: Exception) -> ConvrouteError:
    """What a command's caller is told of an exception its batch raised."""
    if isinstance(exc, ConvrouteError):
        return exc
    log.exception("writer failed", exc_info=exc)
    return StorageError("internal error while storing; nothing was recorded")


class GroupCommitter:
    """Queues commands for the single writer thread; ``execute`` answers after the commit,
    each command with its own result type (``SendMessage`` a ``MessageAccepted``, …). The
    thread hands each batch to its ``writer``: in this process (``BatchWriter``), or a writer
    process (``storage/writerproc.py``), whose Python then shares no GIL with the server's."""

    def __init__(
        self, writer: Writer, max_batch: int = 2000, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics or Metrics()
        self.writer = writer
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.largest_batch = 0  # commands in the largest batch so far (tests read it)
        self.commands = 0
        self.conflicts = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self.writer.start()
            self._thread = threading.Thread(target=self._run, name="convroute-writer", daemon=True)
            self._thread.start()

    def wait_ready(self) -> bool:
        """Wait until the writer can take a batch (a writer process has read the log);
        whether it can."""
        return self.writer.wait_ready()

    def stop(self, timeout: float = 30.0) -> None:
        """Apply what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        self.writer.close()

    @overload
    async def execute(self, command: SendMessage) -> MessageAccepted: ...
    @overload
    async def execute(self, command: RecordConversion) -> ConversionRecorded: ...
    @overload
    async def execute(self, command: RecordDlr) -> DlrRecorded: ...
    @overload
    async def execute(self, command: CloseWindows) -> WindowsClosed: ...
    @overload
    async def execute(self, command: PurgeNonces) -> NoncesPurged: ...
    @overload
    async def execute(self, command: PurgeOld) -> Purged: ...
    @overload
    async def execute(self, command: SubmissionDone) -> SubmissionCleared: ...
    @overload
    async def execute(self, command: SubmissionRefused) -> Refusal: ...
    @overload
    async def execute(self, command: ClaimSubmissions) -> Claimed: ...
    @overload
    async def execute(self, command: ClaimForwards) -> ForwardsClaimed: ...
    @overload
    async def execute(self, command: ForwardDone | ForwardFailed) -> ForwardSettled: ...
    @overload
    async def execute(self, command: BatchCommand) -> Result: ...

    async def execute(self, command: BatchCommand) -> Result:
        """Queue ``command``; its result once durable, or its error (nothing written)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put(_Item(command, future, loop))
        return await future

    @overload
    def execute_sync(self, command: SendMessage, timeout: float = ...) -> MessageAccepted: ...
    @overload
    def execute_sync(
        self, command: RecordConversion, timeout: float = ...
    ) -> ConversionRecorded: ...
    @overload
    def execute_sync(self, command: RecordDlr, timeout: float = ...) -> DlrRecorded: ...
    @overload
    def execute_sync(self, command: CloseWindows, timeout: float = ...) -> WindowsClosed: ...
    @overload
    def execute_sync(self, command: PurgeNonces, timeout: float = ...) -> NoncesPurged: ...
    @overload
    def execute_sync(self, command: PurgeOld, timeout: float = ...) -> Purged: ...
    @overload
    def execute_sync(self, command: SubmissionDone, timeout: float = ...) -> SubmissionCleared: ...
    @overload
    def execute_sync(self, command: SubmissionRefused, timeout: float = ...) -> Refusal: ...
    @overload
    def execute_sync(self, command: ClaimSubmissions, timeout: float = ...) -> Claimed: ...
    @overload
    def execute_sync(self, command: BatchCommand, timeout: float = ...) -> Result: ...

    def execute_sync(self, command: BatchCommand, timeout: float = 60.0) -> Result:
        """``execute`` for callers without an event loop (CLI, tests)."""
        future: Future[Result] = Future()
        self._queue.put(_Item(command, future, None))
        return future.result(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if not isinstance(first, _Item):  # _STOP
                return
            batch: list[_Item] = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(item, _Item):  # _STOP
                    stop = True
                    break
                batch.append(item)
            self._deliver(batch, self._apply([i.command for i in batch]))
            if stop:
                return

    def _apply(self, commands: list[BatchCommand]) -> Sequence[Outcome]:
        started = time.perf_counter()
        try:
            applied = self.writer(commands)
        except Exception as exc:  # the writer process went away: nothing was answered
            applied = Applied([as_error(exc)] * len(commands), failed=True)
        m = self.metrics
        if applied.failed:
            m.writer_failures.inc()
        if applied.conflicts:
            self.conflicts += applied.conflicts
            m.writer_conflicts.inc(applied.conflicts)
        self.batches += 1
        self.commands += len(commands)
        self.largest_batch = max(self.largest_batch, len(commands))
        m.writer_batches.inc()
        m.writer_commands.inc(len(commands))
        m.batch_size.observe(len(commands))
        m.commit_seconds.observe(time.perf_counter() - started)
        m.count(applied.outcomes)
        return applied.outcomes

    @staticmethod
    def _deliver(batch: list[_Item], outcomes: Sequence[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Result], Outcome]]] = {}
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.loop is None:
                assert isinstance(item.future, Future)
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            else:
                assert isinstance(item.future, asyncio.Future)
                by_loop.setdefault(item.loop, []).append((item.future, outcome))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve_all, pairs)


def _resolve_all(pairs: list[tuple[asyncio.Future[Result], Outcome]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the client went away; the write stands
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
