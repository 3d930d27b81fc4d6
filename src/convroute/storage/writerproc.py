"""The writer in a process of its own: the group committer's thread hands each batch over a
socket to a child process that carries it out (``BatchWriter``, with its own router for the
sends) and answers the outcomes once they are committed.

Why: the writer's Python (the routing decision, the fold, SQLAlchemy) and the server's (HTTP,
authentication, JSON) shared one GIL, so a server used one core's worth of it for both. In
its own process the writer runs on the other core. What crosses is a batch of commands and
its outcomes, pickled by ``multiprocessing.connection`` (the standard library: a length
prefix and pickle over a local socket pair); the child is started with ``subprocess`` so it
imports only what it needs.

Nothing is answered before the child committed it: a batch whose child went away (killed,
crashed) is answered with ``StorageError`` for every command, and the next batch starts a
new child. The child stops when its socket closes (the server stopped or died), after the
batch in hand.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from convroute.domain.commands import BatchCommand
from convroute.domain.errors import StorageError
from convroute.storage.groupcommit import Applied

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 900.0
"""How long a new child may take to be ready (it reads the log into its router first)."""


class WriterProcess:
    """The parent's side: ``__call__`` carries out a batch in the child, which is started on
    first use (or by ``start``) and again after it went away; ``close`` stops it.

    ``on_reply`` is told what the child adds to each answer (its router's capped routes at
    their cap, for the parent's quality report)."""

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        on_reply: Callable[[Any], None] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.module = module
        self.env = dict(env)
        self.on_reply = on_reply
        self.ready_timeout_s = ready_timeout_s
        self.started = 0  # children started so far
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._lock = threading.Lock()

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
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
                [sys.executable, "-m", self.module, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self.env,
            )
        self._conn = Connection(ours.detach())
        self._ready = False
        self.started += 1

    def __call__(self, commands: list[BatchCommand]) -> Applied:
        with self._lock:
            try:
                conn = self._ready_conn()
                conn.send(commands)
                applied, extra = conn.recv()
            except (EOFError, OSError) as exc:
                self._gone(exc)
                error = StorageError("the writer process stopped; nothing was acknowledged")
                return Applied([error] * len(commands), failed=True)
        if self.on_reply is not None:
            self.on_reply(extra)
        assert isinstance(applied, Applied)
        return applied

    def _ready_conn(self) -> Connection:
        """The socket to a ready child: started if need be, waited for if not yet ready
        (EOFError or OSError if it stopped or timed out). Under the lock."""
        if self._process is None:
            self._spawn()
        conn = self._conn
        assert conn is not None
        if not self._ready:
            self._wait_ready(conn)
        return conn

    def _wait_ready(self, conn: Connection) -> None:
        if not conn.poll(self.ready_timeout_s):
            raise OSError(f"the writer process was not ready after {self.ready_timeout_s:g} s")
        message = conn.recv()
        if message != "ready":
            raise OSError(f"the writer process said {message!r} instead of ready")
        self._ready = True

    def _gone(self, exc: BaseException) -> None:
        """The child went away (or never became ready): reap it; the next batch starts one."""
        code = None
        if self._process is not None:
            try:
                code = self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
        log.error("the writer process stopped (exit code %s): %s; starting another", code, exc)
        self._close_conn()
        self._process = None

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self, timeout: float = 30.0) -> None:
        """Close the socket: the child finishes the batch in hand and stops."""
        with self._lock:
            self._close_conn()
            process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_batches(
    conn: Connection, apply: Callable[[list[BatchCommand]], Applied], extra: Callable[[], Any]
) -> int:
    """The child's loop: each batch received is carried out and answered, with ``extra()``,
    until the socket closes; how many batches were."""
    served = 0
    conn.send("ready")
    while True:
        try:
            commands = conn.recv()
        except (EOFError, OSError):
            return served
        applied = apply(commands)
        try:
            conn.send((applied, extra()))
        except OSError:  # the parent went away after the commit: nobody to answer
            return served
        served += 1


def child_env(settings_env: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: the parent's, with the settings it serves with; not the
    metrics' folder of a multi-worker server (the parent counts the writer's metrics)."""
    env = {**os.environ, **settings_env}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env
