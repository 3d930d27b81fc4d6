"""Delay-aware, forgetting estimates of each route's conversion rate per context, read off
the ledger's sums (``ledger.py``): ``mu_hat = conversions / exposure`` is unbiased for ``mu``
without waiting for the window, and a young message is neither a success nor a failure. A
route with little evidence in a context borrows from the wider ones (network -> country ->
everywhere); the history since a point in time serves the change-point test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

from convroute.routing.arms import parents
from convroute.routing.changes import Row
from convroute.routing.delay import ConversionDelay
from convroute.routing.ledger import LedgerSums
from convroute.routing.policy import Context

BORROW = 10.0  # pseudo-observations a sparse route takes from the wider level's estimate
# Pooled borrowing (``borrowing(pooled=True)``, the default policy's): a route takes as many
# pseudo-observations of the wider level's estimate as the spread of its rate between
# destinations warrants, at most POOL_MAX, judged once POOL_MIN_PLACES destinations have at
# least POOL_MIN_EXPOSURE of evidence on it
POOL_MAX = 200.0
POOL_MIN_PLACES = 3
POOL_MIN_EXPOSURE = 5.0
# Those reads (the spread, and a wider level's rate) sum over every destination with evidence
# on the route: done at every decision, they grow with the destinations (200 networks, 5
# routes: 1.3 ms a decision from the source). They are read once per REREAD_MS of send time
# (by its first decision) and kept: a function of the log still, and a checkpoint keeps them.
REREAD_MS = 30_000
_MIN_CALIBRATION = 30.0  # settled decisions with a "delivered" receipt before receipts count


class Estimate(NamedTuple):
    """What is known of a route in a context, now (a named tuple: dozens are built per
    decision, and tuples are the cheapest immutable values to build)."""

    mean: float  # posterior mean conversion rate (delay-corrected)
    exposure: float  # effective number of observations, after forgetting
    dlr_rate: float | None  # share of receipts saying delivered, or None without receipts
    sent: float  # effective number of decisions, after forgetting
    receipts: float = 0.0  # effective number of receipts, after forgetting
    # P(convert | receipt said delivered), P(convert | receipt said failed), and how many
    # settled decisions with a "delivered" and with a "failed" receipt they rest on: None
    # until known
    calibration: tuple[float, float, float, float] | None = None
    # pseudo-observations taken from the wider levels (pooled borrowing): they count in the
    # optimistic index's confidence, not as this destination's own evidence
    borrowed: float = 0.0


class Ledger(LedgerSums):
    """The ledger, read: each route's estimate in a context, now, in each memory."""

    # (LedgerSums' parameters written out again: a class mypyc compiles cannot pass
    # ``*args, **kwargs`` on to its base's ``__init__``)
    def __init__(
        self,
        delay: ConversionDelay | None = None,
        tau_s: float | None = 3600.0,
        prior: tuple[float, float] = (1.0, 1.0),
        retain_s: float = 7_200.0,
        also_tau_s: tuple[float, ...] = (),
        learn_delay: bool = False,
    ) -> None:
        super().__init__(delay, tau_s, prior, retain_s, also_tau_s, learn_delay)
        # the reads over many destinations, per (memory, level, route), with the period of
        # send time they were read in (``reread_ms``, REREAD_MS at pace 1)
        self.reread_ms = float(REREAD_MS)
        self._pool: dict[tuple[int, Context, str], tuple[int, float | None]] = {}
        self._wider_memo: dict[tuple[int, Context, str], tuple[int, float | None]] = {}

    def set_pace(self, pace: float) -> None:
        super().set_pace(pace)
        self.reread_ms /= pace

    def provisional(self, now_ms: int) -> AbstractContextManager[None]:
        """``LedgerSums.provisional``, and what the reads over many destinations keep is put
        back too: an operator's read at any time changes nothing a decision reads."""
        return _putting_back(self, super().provisional(now_ms))

    # -- reading ---------------------------------------------------------------------------

    def since(
        self, context: Context, route_id: str, start_ms: float, now_ms: int, pure: bool = False
    ) -> list[Row]:
        """The route's history in ``context`` from ``start_ms`` (within the history's
        horizon): a ``Row`` (slice start, exposure, conversions) per slice, oldest first, without
        forgetting; empty if no history is kept. ``pure``: a read that keeps nothing (see
        ``History.rows``)."""
        if self.history is None:
            return []
        return self.history.rows((context, route_id), start_ms, now_ms, self.delay, pure)

    def settled_since(
        self, context: Context, route_id: str, start_ms: float, now_ms: int
    ) -> list[Row]:
        """``since``, without the slices younger than the age by which ``SETTLED_ENOUGH`` of
        conversions have happened: their exposure rests on the delay model most, and where
        the real delays differ from it they would look like a change (what change tests
        read)."""
        rows = self.since(context, route_id, start_ms, now_ms)
        if self.history is not None:
            young_from = now_ms - self._young_ms - self.history.slice_ms
            while rows and rows[-1].start > young_from:
                rows.pop()
        return rows

    def estimate(self, context: Context, route_id: str, now_ms: int) -> Estimate:
        """The route's estimate in ``context`` at ``now_ms``."""
        return self.estimates(context, [route_id], now_ms)[0]

    def estimates(
        self,
        context: Context,
        route_ids: list[str],
        now_ms: int,
        memory: int = 0,
    ) -> list[Estimate]:
        """The routes' estimates in ``context`` at ``now_ms`` (the time-dependent work once),
        with a sparse route's borrowed from the wider levels (``borrowing``)."""
        own = self.own(context, route_ids, now_ms, memory)
        return self.borrowing(context, route_ids, own, now_ms, memory)

    def borrowing(
        self,
        context: Context,
        route_ids: list[str],
        own: list[Estimate],
        now_ms: int,
        memory: int = 0,
        pooled: bool = False,
    ) -> list[Estimate]:
        """``own`` (this context's estimates), where a route with little evidence here takes
        ``BORROW`` pseudo-observations at the wider level's estimate (network -> country ->
        everywhere) instead of the flat prior.

        ``pooled``: every route, however much evidence it has here, takes ``k``
        pseudo-observations of the wider level's estimate, ``k`` what the spread of the route's
        rate between destinations warrants (``pool_strength``): many where destinations agree,
        few where they really differ; they count in the index's confidence (``borrowed``),
        so a small destination is not explored as if nothing were known. Where too few
        destinations have evidence to judge the spread, as above."""
        a, b = self.prior
        for i, route_id in enumerate(route_ids):
            e = own[i]
            k = self.pool_strength(context, route_id, now_ms, memory) if pooled else None
            if k is None and e.exposure >= BORROW:
                continue
            parent = self._wider(context, route_id, now_ms, memory)
            if parent is None:
                continue
            weight = BORROW if k is None else k
            if weight <= 0.0:
                continue
            # undo the flat prior, then add the wider level's pseudo-observations
            converted = e.mean * (e.exposure + a + b) - a
            mean = (converted + weight * parent) / (e.exposure + weight)
            own[i] = e._replace(
                mean=min(1.0, max(0.0, mean)), borrowed=0.0 if k is None else weight
            )
        return own

    def pool_strength(
        self, context: Context, route_id: str, now_ms: int, memory: int = 0
    ) -> float | None:
        """How many pseudo-observations of the wider level a destination's estimate of the
        route is worth: the strength of a beta prior whose spread is the spread of the
        route's rate between the destinations that have evidence on it (the method of
        moments, net of each one's sampling noise: ``tau2``), ``p(1-p)/tau2 - 1`` bounded by
        ``POOL_MAX``; None where fewer than ``POOL_MIN_PLACES`` destinations can say."""
        widest = parents(context)
        if not widest:
            return None
        key = (memory, widest[-1], route_id)
        period = int(now_ms // self.reread_ms)
        kept = self._pool.get(key)
        if kept is not None and kept[0] == period:
            return kept[1]
        k = self._pool_strength(widest[-1], route_id, now_ms, memory)
        self._pool[key] = (period, k)
        return k

    def _pool_strength(
        self, widest: Context, route_id: str, now_ms: int, memory: int
    ) -> float | None:
        members = self._members[memory].get((widest, route_id))
        if not members or len(members) < POOL_MIN_PLACES:
            return None
        if now_ms > self._advanced_ms:  # (as ``own_all``: time passes first)
            self._advance(now_ms)
        scale = self._scales[memory].scale(now_ms)
        rel_now = self._rel(now_ms)
        places: list[tuple[float, float]] = []
        total_n = total_x = 0.0
        for arm in members:
            n = (arm.settled + max(0.0, arm.lin_a + rel_now * arm.lin_b - arm.lin_c)) * scale
            if n < POOL_MIN_EXPOSURE:
                continue
            x = min(arm.converted * scale, n)
            places.append((n, x))
            total_n += n
            total_x += x
        if len(places) < POOL_MIN_PLACES:
            return None
        p = total_x / total_n
        noise = max(p * (1.0 - p), 1e-4)
        q = sum_sq = 0.0
        for n, x in places:
            q += (x - n * p) ** 2 / n
            sum_sq += n * n
        tau2 = (q - (len(places) - 1) * noise) / (total_n - sum_sq / total_n)
        if tau2 <= 0.0:
            return POOL_MAX
        return min(POOL_MAX, max(0.0, noise / tau2 - 1.0))

    def _wider(self, context: Context, route_id: str, now_ms: int, memory: int) -> float | None:
        """The route's mean at the nearest wider level with evidence (summing its arms), as
        read in this period of send time (``REREAD_MS``)."""
        levels = parents(context)
        if not levels:
            return None
        key = (memory, levels[0], route_id)  # the first wider level names the rest
        period = int(now_ms // self.reread_ms)
        kept = self._wider_memo.get(key)
        if kept is not None and kept[0] == period:
            return kept[1]
        mean = self._wider_mean(levels, route_id, now_ms, memory)
        self._wider_memo[key] = (period, mean)
        return mean

    def _wider_mean(
        self, levels: list[Context], route_id: str, now_ms: int, memory: int
    ) -> float | None:
        a, b = self.prior
        scale = self._scales[memory].scale(now_ms)
        rel_now = self._rel(now_ms)
        for wider in levels:
            members = self._members[memory].get((wider, route_id))
            if not members:
                continue
            converted = exposure = 0.0
            for arm in members:
                converted += arm.converted
                exposure += arm.settled + max(0.0, arm.lin_a + rel_now * arm.lin_b - arm.lin_c)
            if exposure * scale >= BORROW:
                return (converted * scale + a) / (exposure * scale + a + b)
        return None

    def own(
        self,
        context: Context,
        route_ids: list[str],
        now_ms: int,
        memory: int = 0,
    ) -> list[Estimate]:
        """The routes' estimates from this context's evidence alone (no borrowing), in one of
        the memories (0: ``tau_s``; 1, 2…: ``also_tau_s``)."""
        return self.own_all(context, route_ids, now_ms, (memory,))[0]

    def own_all(
        self,
        context: Context,
        route_ids: list[str],
        now_ms: int,
        memories: tuple[int, ...] | None = None,
    ) -> list[list[Estimate]]:
        """``own`` in each of ``memories`` (default: all), the shared work done once. A read
        later than the last moves the decisions' ages on to ``now_ms`` (time passes; inside
        ``provisional`` that move is undone after the read)."""
        current = now_ms >= self._advanced_ms
        if now_ms > self._advanced_ms:
            self._advance(now_ms)
        rel_now = self._rel(now_ms)
        a, b = self.prior
        unknown = Estimate(a / (a + b), 0.0, None, 0.0)
        new = tuple.__new__
        out = []
        for memory in range(len(self._scales)) if memories is None else memories:
            scale = self._scales[memory].scale(now_ms)
            arms = self._by_context[memory].get(context)
            estimates = []
            for route_id in route_ids:
                arm = None if arms is None else arms.get(route_id)
                if arm is None:
                    estimates.append(unknown)
                    continue
                if current:
                    pending = arm.lin_a + rel_now * arm.lin_b - arm.lin_c
                    if pending < 0.0:  # rounding in the running sums
                        pending = 0.0
                else:
                    pending = self._exact_pending(arm, now_ms)
                exposure = (arm.settled + pending) * scale
                mean = (arm.converted * scale + a) / (exposure + a + b)
                dlr_seen = arm.dlr_seen
                calibration = None
                if arm.cal_delivered * scale >= _MIN_CALIBRATION:
                    calibration = (
                        (arm.cal_delivered_conv + 0.5) / (arm.cal_delivered + 1.0),
                        (arm.cal_failed_conv + 0.5) / (arm.cal_failed + 1.0),
                        arm.cal_delivered * scale,
                        arm.cal_failed * scale,
                    )
                fields = (
                    mean if mean < 1.0 else 1.0,
                    exposure,
                    arm.dlr_delivered / dlr_seen if dlr_seen > 1e-9 else None,
                    arm.sent * scale,
                    dlr_seen * scale,
                    calibration,
                    0.0,
                )
                estimates.append(new(Estimate, fields))  # Estimate(*fields), without a frame
            out.append(estimates)
        return out


@contextmanager
def _putting_back(ledger: Ledger, inner: AbstractContextManager[None]) -> Iterator[None]:
    kept = (dict(ledger._pool), dict(ledger._wider_memo))
    try:
        with inner:
            yield
    finally:
        ledger._pool, ledger._wider_memo = kept
