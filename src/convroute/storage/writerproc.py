"""The writer in a process of its own: the group committer's thread hands each batch over a
socket to a child process that carries it out (``BatchWriter``, with its own router for the
sends) and answers the outcomes once they are committed.

Why: the writer's Python (the routing decision, the fold, SQLAlchemy) and the server's (HTTP,
authentication, JSON) shared one GIL, so a server used one core's worth of it for both. In
its own process the writer runs on the other core. What crosses is a batch of commands and
its outcomes, pickled by ``multiprocessing.connection`` (the standard library: a length
prefix and pickle over a local socket pair); the child is started with ``subprocess`` so it
imports only what it needs.

The child's router is the worker's only one: it follows the log, routes the sends and tells
the routing events. What operators read of it (the quality report, the anomalies, the
metrics) is asked over a second socket (``RemoteRouter``), so the server holds no copy of
the router's state and reads no log.

Nothing is answered before the child committed it: a batch whose child went away (killed,
crashed) is answered with ``StorageError`` for every command, and the next batch starts a
new child. The child stops when its sockets close (the server stopped or died), after the
batch in hand.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from convroute.domain.commands import BatchCommand
from convroute.domain.destinations import Destination
from convroute.domain.errors import StorageError
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.routing.anomalies import Anomaly
from convroute.routing.base import Objective, View
from convroute.routing.estimates import Estimate
from convroute.routing.policy import Candidate, Context
from convroute.storage.groupcommit import Applied

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 900.0
"""How long a new child may take to be ready (it reads the log into its router first)."""

RESTART_BACKOFF_S = (0.25, 30.0)
"""After a child stopped, how long before another is started: from the first figure, doubling
at each failure in a row up to the second (a child that cannot start is not started again for
every batch)."""

READ_TIMEOUT_S = 30.0
"""How long a read of the child's router may take before the reader is told it failed."""

READS = frozenset({"read", "at_cap", "anomalies", "anomaly_counts", "progress"})
"""What the server may ask of the child's router (``serve_reads``)."""


class WriterProcess:
    """The parent's side: ``__call__`` carries out a batch in the child, which is started on
    first use (or by ``start``) and again after it went away; ``ask`` reads its router;
    ``close`` stops it."""

    def __init__(
        self, module: str, env: Mapping[str, str], ready_timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        self.module = module
        self.env = dict(env)
        self.ready_timeout_s = ready_timeout_s
        self.started = 0  # children started so far
        self._conn: Connection | None = None
        self._reads: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._reads_lock = threading.Lock()
        self._asked = itertools.count()
        self._retry_at = 0.0  # (monotonic) no new child before
        self._backoff = RESTART_BACKOFF_S[0]

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the child (it reads the log into its router meanwhile); idempotent."""
        with self._lock:
            if self._process is None:
                self._spawn()

    def wait_ready(self) -> bool:
        """Start the child if need be and wait until it read the log and is ready; False
        (logged) if it stopped or timed out instead (the next batch starts another)."""
        with self._lock:
            try:
                self._ready_conn()
            except (EOFError, OSError) as exc:
                self._gone(exc)
                return False
            return True

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        reads, their_reads = socket.socketpair()
        with theirs, their_reads:
            fds = [theirs.fileno(), their_reads.fileno()]
            self._process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
                [sys.executable, "-m", self.module, *map(str, fds)], pass_fds=fds, env=self.env
            )
        self._conn = Connection(ours.detach())
        with self._reads_lock:
            self._reads = Connection(reads.detach())
        self._ready = False
        self.started += 1

    def __call__(self, commands: list[BatchCommand]) -> Applied:
        with self._lock:
            try:
                conn = self._ready_conn()
                conn.send(commands)
                applied = conn.recv()
            except (EOFError, OSError) as exc:
                self._gone(exc)
                error = StorageError("the writer process stopped; nothing was acknowledged")
                return Applied([error] * len(commands), failed=True)
        assert isinstance(applied, Applied)
        return applied

    def ask(self, name: str, *args: Any) -> Any:
        """What the child's router answers to ``name(*args)`` (one of ``READS``); StorageError
        if the child does not answer (starting, gone)."""
        with self._reads_lock:
            conn = self._reads
            if conn is None:
                raise StorageError("the writer process is not running")
            asked = next(self._asked)
            try:
                conn.send((asked, name, args))
                while conn.poll(READ_TIMEOUT_S):
                    answered, ok, value = conn.recv()
                    if answered == asked:  # (an earlier answer came too late for its asker)
                        if not ok:
                            raise StorageError(f"the writer process could not read: {value}")
                        return value
            except (EOFError, OSError):
                pass
        raise StorageError("the writer process did not answer; try again")

    def _ready_conn(self) -> Connection:
        """The socket to a ready child: started if need be, waited for if not yet ready
        (EOFError or OSError if it stopped or timed out). Under the lock."""
        if self._process is None:
            if time.monotonic() < self._retry_at:
                raise OSError("the writer process is being started again")
            self._spawn()
        conn = self._conn
        assert conn is not None
        if not self._ready:
            if not conn.poll(self.ready_timeout_s):
                raise OSError(f"the writer process was not ready after {self.ready_timeout_s:g} s")
            message = conn.recv()
            if message != "ready":
                raise OSError(f"the writer process said {message!r} instead of ready")
            self._ready = True
            self._backoff = RESTART_BACKOFF_S[0]
        return conn

    def _gone(self, exc: BaseException) -> None:
        """The child went away (or never became ready): reap it; a batch after the back-off
        starts another."""
        if self._process is None:  # (none was running: still backing off)
            return
        code = None
        if self._process is not None:
            try:
                code = self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
        log.error(
            "the writer process stopped (exit code %s): %s; starting another in %g s",
            code, exc, self._backoff,
        )  # fmt: skip
        self._close_conns()
        self._process = None
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(2 * self._backoff, RESTART_BACKOFF_S[1])

    def _close_conns(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._reads_lock:
            if self._reads is not None:
                self._reads.close()
                self._reads = None

    def close(self, timeout: float = 30.0) -> None:
        """Close the sockets: the child finishes the batch in hand and stops."""
        with self._lock:
            self._close_conns()
            process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RemoteRouter:
    """The writer process's router as the server reads it (``services.quality.RouterReads``):
    each read is a question over the reads socket."""

    def __init__(self, process: WriterProcess, name: str) -> None:
        self._process = process
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def applied(self) -> int:
        return int(self.progress()[0])

    def progress(self) -> tuple[int, int, int]:
        """Log entries the router applied, reads of the log, reads that failed."""
        applied, polls, failures = self._process.ask("progress")
        return int(applied), int(polls), int(failures)

    def read(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> tuple[list[View], list[Estimate]]:
        views, estimates = self._process.ask("read", context, candidates, now_ms, objective)
        return list(views), list(estimates)

    def at_cap(self, now_ms: int) -> dict[str, bool]:
        return dict(self._process.ask("at_cap", now_ms))

    def anomalies(
        self,
        dest: Destination,
        message_type: MessageType,
        traffic_class: TrafficClass,
        since_ms: int,
    ) -> list[Anomaly]:
        return list(self._process.ask("anomalies", dest, message_type, traffic_class, since_ms))

    def anomaly_counts(self) -> dict[str, tuple[int, int]]:
        return dict(self._process.ask("anomaly_counts"))


def serve_batches(conn: Connection, apply: Callable[[list[BatchCommand]], Applied]) -> int:
    """The child's loop: each batch received is carried out and answered until the socket
    closes; how many batches were."""
    served = 0
    conn.send("ready")
    while True:
        try:
            commands = conn.recv()
        except (EOFError, OSError):
            return served
        applied = apply(commands)
        try:
            conn.send(applied)
        except OSError:  # the parent went away after the commit: nobody to answer
            return served
        served += 1


def serve_reads(conn: Connection, answer: Callable[[str, tuple[Any, ...]], Any]) -> None:
    """The child's reads: each question answered by ``answer(name, args)`` (only the names
    in ``READS``), until the socket closes; a read that fails is answered with why."""
    while True:
        try:
            asked, name, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if name not in READS:
                raise ValueError(f"{name!r} is not a read")
            reply = (asked, True, answer(name, tuple(args)))
        except Exception as exc:  # the reader is told; the child goes on
            log.exception("a read of the router failed")
            reply = (asked, False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except OSError:
            return


def child_env(settings_env: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: the parent's, with the settings it serves with; not the
    metrics' folder of a multi-worker server (the parent counts the writer's metrics)."""
    env = {**os.environ, **settings_env}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env
