"""Throughput caps: a route's messages-per-second (its config's ``mps``), as token buckets.

A bucket holds at most one second of the route's rate (at least one message) and refills
continuously; a message takes a token. The live router keeps one set (admission: a route
with no token left is not a candidate while another has room, so the excess goes to the
next-best route instead of queuing past an OTP's useful life); the dispatcher keeps another
(pacing: a submit waits for its token, so the upstream never sees more than the cap). Both
count in one process: with several instances, give each route ``mps`` divided by their
number (docs/routing.md, "Throughput caps"). Pure: time is what the caller says it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convroute.domain.models import Route


def cap_of(route: Route) -> float | None:
    """The route's cap in messages per second, or None when it has none."""
    mps = route.config.get("mps")
    return float(mps) if isinstance(mps, int | float) and mps > 0 else None


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens per second
    tokens: float
    at_ms: int

    @property
    def burst(self) -> float:
        return max(1.0, self.rate)

    def level(self, now_ms: int) -> float:
        """The tokens at ``now_ms`` (negative: taken ahead, by reservations)."""
        elapsed = max(0, now_ms - self.at_ms)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate / 1000)
        self.at_ms = max(self.at_ms, now_ms)
        return self.tokens

    def take(self, now_ms: int) -> int:
        """Take a token, in advance if none is left: how long (ms) until it is due."""
        level = self.level(now_ms) - 1
        self.tokens = level
        return 0 if level >= 0 else int(-level * 1000 / self.rate + 0.999)


@dataclass
class Capacity:
    """One bucket per capped route (remade when its cap changes)."""

    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def _bucket(self, route: Route, now_ms: int) -> TokenBucket | None:
        cap = cap_of(route)
        if cap is None:
            self._buckets.pop(route.id, None)
            return None
        bucket = self._buckets.get(route.id)
        if bucket is None or bucket.rate != cap:
            bucket = self._buckets[route.id] = TokenBucket(cap, max(1.0, cap), now_ms)
        return bucket

    def has_room(self, route: Route, now_ms: int) -> bool:
        """Whether the route can take a message now without passing its cap."""
        bucket = self._bucket(route, now_ms)
        return bucket is None or bucket.level(now_ms) >= 1

    def take(self, route: Route, now_ms: int) -> int:
        """Count a message on the route: how long (ms) it must wait to keep to the cap."""
        bucket = self._bucket(route, now_ms)
        return 0 if bucket is None else bucket.take(now_ms)

    def saturated(self, now_ms: int) -> dict[str, bool]:
        """Each capped route: whether it is at its cap now (for operators)."""
        return {rid: b.level(now_ms) < 1 for rid, b in self._buckets.items()}
