"""Checkpoints of the live router: its state as of a position in the event log, kept in the
database, so a server starts from the latest and replays only the log since (issue 20).

The state stays a function of the log: a checkpoint is made by a router built from the log
alone (the previous checkpoint and the log after it, or the whole log), never from a serving
router's own doings, and it is only ever used with the routing code and settings it was made
with (``routing_key``: a digest of both); another code or setting replays the log in full.

A checkpoint is the router's state pickled (the ledger's decisions in columns, see
``routing/ledger_state.py``) and compressed. Unpickling runs code named by the data, so a
checkpoint is signed with the service's key (HMAC-SHA256 over its routing key, position,
count and state) and one whose signature does not verify is never unpickled: whoever can
write to the database but does not hold the key cannot make a server run anything.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import pickle
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from convroute.services.ports import Checkpoint, Checkpoints, EventLog
from convroute.services.router import LiveRouter, RouterState

log = logging.getLogger("convroute.routing")

FRESH: dict[str, Any] = {
    name: {"high": None, "gaps": []} for name in ("decisions", "conversions", "dlrs")
}
"""The position of a log read from its start (what ``resume`` takes to forget a position)."""


def routing_compiled() -> bool:
    """Whether the routing engine runs compiled (``benchmarks/compiled.py``)."""
    from convroute.routing import ledger

    return not (ledger.__file__ or "").endswith(".py")


@functools.cache  # (the files do not change under a running process: read once)
def code_version(compiled: bool) -> str:
    """A digest of the routing code: every module of ``convroute.routing`` and the live
    router's, and whether they run compiled (the compiled classes pickle differently)."""
    digest = hashlib.sha256(b"compiled" if compiled else b"source")
    routing = resources.files("convroute.routing")
    names = sorted(p.name for p in routing.iterdir() if p.name.endswith(".py"))
    for name in names:
        digest.update(name.encode())
        digest.update(routing.joinpath(name).read_bytes())
    digest.update(resources.files("convroute.services").joinpath("router.py").read_bytes())
    return digest.hexdigest()


def routing_key(settings: Mapping[str, Any], compiled: bool) -> str:
    """What a checkpoint is only good for: these routing settings on this code."""
    text = json.dumps(dict(settings), sort_keys=True) + code_version(compiled)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def signing_key(secret: str) -> bytes:
    """The checkpoints' HMAC key, derived from the service's secret key."""
    return hmac.new(secret.encode(), b"convroute router checkpoint", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Made:
    """What making a checkpoint did."""

    checkpoint: Checkpoint
    since: Checkpoint | None  # the checkpoint it started from (None: the whole log)
    tail: int  # log entries replayed on top of it
    seconds: float


@dataclass
class Checkpointing:
    """Restoring a router from the latest checkpoint, and making a new one."""

    store: Checkpoints
    routing_key: str
    key: bytes

    def sign(self, position: Mapping[str, Any], applied: int, state: bytes) -> str:
        """The signature of a checkpoint of this routing key (HMAC-SHA256, hex)."""
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in (self.routing_key, json.dumps(dict(position), sort_keys=True), str(applied)):
            mac.update(part.encode() + b"\0")
        mac.update(state)
        return mac.hexdigest()

    def seal(self, router: LiveRouter, position: Mapping[str, Any], now_ms: int) -> Checkpoint:
        """A signed checkpoint of ``router`` as of ``position``."""
        state = zlib.compress(pickle.dumps(router.state(), protocol=5), 1)
        digest = self.sign(position, router.applied, state)
        return Checkpoint(self.routing_key, now_ms, dict(position), router.applied, digest, state)

    def verified(self, checkpoint: Checkpoint) -> bool:
        """Whether ``checkpoint`` was made with this key for this routing key."""
        expected = self.sign(checkpoint.position, checkpoint.applied, checkpoint.state)
        return checkpoint.routing_key == self.routing_key and hmac.compare_digest(
            expected, checkpoint.digest
        )

    def restore(self, router: LiveRouter, event_log: EventLog) -> Checkpoint | None:
        """Put the latest checkpoint into a new ``router`` and ``event_log`` (which then read
        on from its position); None, and nothing changed, when there is none to use."""
        checkpoint = self.store.latest_checkpoint(self.routing_key)
        if checkpoint is None:
            return None
        if not self.verified(checkpoint):
            log.warning("a router checkpoint's signature does not verify: replaying the log")
            return None
        try:
            state = pickle.loads(zlib.decompress(checkpoint.state))  # noqa: S301 (signed)
            if not isinstance(state, RouterState):
                raise ValueError("not a router's state")
            event_log.resume(checkpoint.position)
            router.restore(state)
        except Exception as exc:  # what a state from other code raises is open-ended
            event_log.resume(FRESH)
            log.warning("a router checkpoint could not be used (%s): replaying the log", exc)
            return None
        return checkpoint

    def make(
        self,
        router: Callable[[], LiveRouter],
        event_log: Callable[[], EventLog],
        now_ms: int,
        keep: int = 2,
    ) -> Made:
        """A new checkpoint, made from the log alone: a new router from the latest
        checkpoint and the log since (or from the whole log), kept with ``keep`` - 1 before."""
        started = time.perf_counter()
        fresh, reader = router(), event_log()
        since = self.restore(fresh, reader)
        batch = reader.poll(now_ms)
        fresh.replay(batch)
        checkpoint = self.seal(fresh, reader.position(), now_ms)
        self.store.save_checkpoint(checkpoint, keep)
        return Made(checkpoint, since, len(batch), time.perf_counter() - started)
