"""Rate limits: failed authentication per credential id and per client address, and each
account's request rate.

Counts are kept in fixed windows (``now // window``): a key may have ``limit`` events in a
window; past that it is refused until the window ends, and the refusal says when that is.
Fixed windows allow up to twice the limit across a window boundary, which is what a lockout
against guessing needs (a guesser gets ``2 * limit`` tries per window at best, against
2^128 secrets) at one counter per key. The counters are a port: in this process by default
(``MemoryCounter``), or shared by every instance through Redis (``storage.counters``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from convroute.domain.clock import Clock
from convroute.domain.errors import RateLimitedError

_MAX_KEYS = 200_000  # a flood of distinct keys costs at most this many counters


class Counter(Protocol):
    """Adds to a key's count in one window and answers the count after; ``add=0`` reads."""

    async def add(self, key: str, window: int, window_ms: int, add: int) -> int: ...

    async def aclose(self) -> None: ...


class MemoryCounter:
    """Counters in this process: what one instance saw."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def add(self, key: str, window: int, window_ms: int, add: int) -> int:
        seen_window, count = self._counts.get(key, (window, 0))
        if seen_window != window:
            count = 0
        if add:
            if len(self._counts) >= _MAX_KEYS:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
                if len(self._counts) >= _MAX_KEYS:
                    self._counts.clear()
            self._counts[key] = (window, count + add)
        return count + add

    async def aclose(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the limiter enforces (each 0 turns that limit off)."""

    failures_per_key: int = 10
    failures_per_address: int = 50
    failure_window_ms: int = 300_000
    account_per_second: float = 0.0  # the default for accounts without a rate of their own


class Limiter:
    """Checks and counts, over a ``Counter``."""

    def __init__(
        self,
        counter: Counter,
        clock: Clock,
        limits: Limits,
        on_refused: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.counter = counter
        self.clock = clock
        self.limits = limits
        self.refused = {"address": 0, "key": 0, "account": 0}
        self._on_refused = on_refused  # (metrics) told the kind of each refusal

    async def check_address(self, address: str | None) -> None:
        """Refuse a client address that failed authentication too often lately."""
        if address:
            await self._check("address", f"fa:{address}", self.limits.failures_per_address)

    async def check_key(self, key: str) -> None:
        """Refuse a credential id that failed authentication too often lately: while it is
        locked nothing sent with it is checked, so guessing its secret learns nothing."""
        await self._check("key", f"fk:{key}", self.limits.failures_per_key)

    async def failed(self, address: str | None, key: str | None) -> None:
        """Count one failed authentication against the address and the credential id."""
        window, window_ms = self._window(self.limits.failure_window_ms)
        if address and self.limits.failures_per_address:
            await self.counter.add(f"fa:{address}", window, window_ms, 1)
        if key and self.limits.failures_per_key:
            await self.counter.add(f"fk:{key}", window, window_ms, 1)

    async def admit(self, account_id: str, per_second: float | None) -> None:
        """Count one request of the account; refuse it past the account's rate (its own, or
        the default), per second."""
        rate = self.limits.account_per_second if per_second is None else per_second
        if rate <= 0:
            return
        window, window_ms = self._window(1000)
        count = await self.counter.add(f"ra:{account_id}", window, window_ms, 1)
        if count > math.ceil(rate):
            self._refuse("account")
            raise RateLimitedError(f"more than {rate:g} requests per second for this account", 1)

    def _refuse(self, kind: str) -> None:
        self.refused[kind] += 1
        self._on_refused(kind)

    async def _check(self, kind: str, key: str, limit: int) -> None:
        if not limit:
            return
        window, window_ms = self._window(self.limits.failure_window_ms)
        if await self.counter.add(key, window, window_ms, 0) >= limit:
            self._refuse(kind)
            retry_ms = (window + 1) * window_ms - self.clock()
            raise RateLimitedError(
                "too many failed authentications: try again later", max(1, -(-retry_ms // 1000))
            )

    async def aclose(self) -> None:
        """Release the counter's connections."""
        await self.counter.aclose()

    def _window(self, window_ms: int) -> tuple[int, int]:
        return self.clock() // window_ms, window_ms
