"""The SMS pumping watch (DESIGN 6). **SMS pumping** is a dip of conversions shared by
every route of a destination while the carriers' receipts still say "delivered" (pumped
requests go to numbers nobody reads: the messages are delivered, nobody converts).

What tells pumping apart from what looks like it:

* an outage of one route: its receipts say "failed" (honest routes), or only that route dips
  while the others convert as before;
* a grey route faking "delivered": only that route dips;
* a network-wide outage without receipts: nothing says the messages were delivered, so no
  pumping is claimed.

So the watch raises a pumping anomaly for a destination when, over its recent memory
(τ = 5 min), (1) conversions of all routes together fall well below what each route's
long-term rate predicts (pooled z ≤ -``raise_z``), (2) the routes *other than* the one that
dips the most dip too (their pooled z ≤ -``shared_z``): the dip is shared, (3) it is shared
*evenly*: pumped requests are a share of the destination's traffic whatever the route, so
the route that dips the most does not dip far deeper than the others (the difference of
their conversion ratios is above -``uneven_z`` standard errors; a grey route failing while
noise lowers the others a little is not pumping), and (4) the receipts of the dipping
traffic still say "delivered" about as often as before. While raised, the long-term rates it
compares with are frozen (so the episode does not become the new normal), and it clears when
recent conversions are back within ``clear_z`` of them, or when the others are back and
only one route's dip, uneven, remains.

Pure: the clock is the ``now_ms`` each call passes, no I/O. It keeps its own ledger, so it
watches whatever policy routes the traffic; it needs some traffic on at least two routes
to see that a dip is shared (a policy that never explores gives it none).
"""

from __future__ import annotations

import math
from collections import deque

from convroute.routing.anomalies import PUMPING, Anomaly
from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Estimate, Ledger
from convroute.routing.policy import Context, Outcome

RECENT_TAU_S = 300.0
BASELINE_LAG_S = 600.0

# route -> (conversion rate, its exposure, delivered share of receipts)
_Baseline = dict[str, tuple[float, float, float | None]]

# per route: exposure, conversions observed, expected, variance, receipts, delivered share
# of receipts now and before
_Row = tuple[float, float, float, float, float, float | None, float | None]


class PumpingWatch:
    """Watches decisions and their outcomes; ``check`` raises and clears pumping anomalies
    per destination (context)."""

    def __init__(
        self,
        delay: ConversionDelay | None = None,
        recent_tau_s: float = RECENT_TAU_S,
        raise_z: float = 5.0,
        shared_z: float = 2.5,
        clear_z: float = 2.0,
        uneven_z: float = 4.0,
        min_exposure: float = 10.0,
        receipt_slack: float = 0.05,
        baseline_lag_s: float = BASELINE_LAG_S,
        min_drop: float = 0.2,
        ledger: Ledger | None = None,
    ) -> None:
        # with ``ledger`` (a policy's, of two memories or more: long, recent), the watch reads
        # the policy's sums instead of keeping its own; its owner records into it
        if ledger is not None and ledger.memories < 2:
            raise ValueError("the pumping watch needs a ledger with a second, recent memory")
        self._shared = ledger is not None
        self.ledger = ledger or Ledger(delay, tau_s=3600.0, also_tau_s=(recent_tau_s,))
        self.baseline_lag_ms = baseline_lag_s * 1000.0
        self.raise_z, self.shared_z, self.clear_z = raise_z, shared_z, clear_z
        self.uneven_z = uneven_z
        self.min_exposure = min_exposure
        self.min_drop = min_drop
        self.receipt_slack = receipt_slack
        self.anomalies: list[Anomaly] = []  # every episode, in the order raised
        self._open: dict[Context, Anomaly] = {}
        self._baseline: dict[Context, _Baseline] = {}  # frozen while an episode is raised
        # the long-term rates as they were at earlier checks, oldest first
        self._history: dict[Context, deque[tuple[int, _Baseline]]] = {}

    def record(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> None:
        """A message was sent on ``route_id`` (a shared ledger's owner records it)."""
        if not self._shared:
            self.ledger.record(decision_id, context, route_id, sent_ms)

    def observe(self, outcome: Outcome) -> None:
        """An outcome of a recorded message (any order, any delay)."""
        if not self._shared:
            self.ledger.observe(outcome)

    def set_pace(self, pace: float) -> None:
        """Time constants divided by ``pace`` (traffic played ``pace`` x real time)."""
        if not self._shared:
            self.ledger.set_pace(pace)
        self.baseline_lag_ms /= pace

    def baseline(self, context: Context) -> dict[str, float] | None:
        """While an episode is raised: each route's conversion rate from before it."""
        frozen = self._baseline.get(context)
        return None if frozen is None else {r: rate for r, (rate, _, _) in frozen.items()}

    def _lagged(
        self, context: Context, route_ids: list[str], slow: list[Estimate], now_ms: int
    ) -> _Baseline | None:
        history = self._history.setdefault(context, deque())
        rates = {
            r: (s.mean, s.exposure, s.dlr_rate)
            for r, s in zip(route_ids, slow)  # noqa: B905
            if s.exposure > 0
        }
        history.append((now_ms, rates))
        horizon = now_ms - self.baseline_lag_ms
        while len(history) > 1 and history[1][0] <= horizon:
            history.popleft()
        return history[0][1] if history[0][0] <= horizon else None

    def active(self, context: Context) -> Anomaly | None:
        """The destination's pumping episode in progress, if any."""
        return self._open.get(context)

    def check(self, context: Context, route_ids: list[str], now_ms: int) -> Anomaly | None:
        """Raise or clear the destination's pumping anomaly as of ``now_ms``; the episode in
        progress, if any."""
        slow, recent = self.ledger.own_all(context, route_ids, now_ms)
        open_ = self._open.get(context)
        baseline = self._baseline.get(context)
        if baseline is None:
            # not raised: compare with the long-term rates as they were ``baseline_lag_s``
            # ago, before the recent evidence (and a dip in it) weighed on them
            baseline = self._lagged(context, route_ids, slow, now_ms)
            if baseline is None:
                return open_
        # raising needs two routes with evidence (is the dip shared?); clearing, one
        figures = _dip(
            route_ids, recent, baseline, self.min_exposure, self.ledger.prior, 1 if open_ else 2
        )
        if figures is None:
            return open_
        z_all, z_rest, z_uneven, drop, receipts_drop = figures
        if open_ is not None:
            open_.severity = max(open_.severity, drop)
            # back to normal, or what remains is one route's own dip, the others recovered
            if z_all > -self.clear_z or (z_rest > -self.clear_z and z_uneven <= -self.uneven_z):
                open_.cleared_ms = now_ms
                del self._open[context]
                del self._baseline[context]
                return None
            return open_
        if (
            z_all <= -self.raise_z
            and drop >= self.min_drop
            and z_rest <= -self.shared_z
            and z_uneven > -self.uneven_z
            and receipts_drop is not None
            and receipts_drop <= self.receipt_slack
        ):
            anomaly = Anomaly(
                PUMPING,
                context,
                now_ms,
                severity=drop,
                evidence={
                    "z_all_routes": round(z_all, 2),
                    "z_other_routes": round(z_rest, 2),
                    "z_uneven": round(z_uneven, 2),
                    "conversion_drop": round(drop, 4),
                    "receipts_drop": round(receipts_drop, 4),
                },
            )
            self.anomalies.append(anomaly)
            self._open[context] = anomaly
            self._baseline[context] = baseline
            return anomaly
        return None


def _dip(
    route_ids: list[str],
    recent: list[Estimate],
    baseline: _Baseline,
    min_exposure: float,
    prior: tuple[float, float],
    min_routes: int,
) -> tuple[float, float, float, float, float | None] | None:
    """Recent conversions against the baseline rates: the pooled z of all routes, the pooled
    z of the routes other than the one that dips the most, the z of how much deeper that one
    dips than the others (0 with one route), the relative drop of conversions,
    and the drop of the delivered share of receipts (None without receipts). None without
    enough evidence on ``min_routes`` routes."""
    a, b = prior
    rows: list[_Row] = []
    for route_id, e in zip(route_ids, recent):  # noqa: B905 (one estimate per route)
        base = baseline.get(route_id)
        if base is None or e.exposure < min_exposure:
            continue
        rate, base_exposure, dlr_before = base
        # the exposure-weighted conversions, undoing the estimate's prior
        observed = e.mean * (e.exposure + a + b) - a
        expected = rate * e.exposure
        # the recent conversions' variance, plus the baseline rate's own uncertainty (a route
        # that had little traffic is not known precisely); weights below 1 make this an upper
        # bound: z errs towards 0
        exposure = e.exposure
        # (p taken between the two rates: a rate near 1 estimated on little traffic would
        # otherwise claim a tiny variance)
        p = (rate + e.mean) / 2.0
        variance = max(p * (1.0 - p), 0.01) * (exposure + exposure**2 / base_exposure)
        rows.append((e.exposure, observed, expected, variance, e.receipts, e.dlr_rate, dlr_before))
    if len(rows) < min_routes:
        return None
    # the route that dips the most (its own z) left out, do the others dip too?
    rows.sort(key=lambda row: (row[1] - row[2]) / math.sqrt(row[3]))
    z_all = _pooled_z(rows)
    z_rest = _pooled_z(rows[1:])
    z_uneven = _uneven_z(rows[0], rows[1:])
    expected_all = sum(row[2] for row in rows)
    drop = 1.0 - sum(row[1] for row in rows) / expected_all if expected_all > 0 else 0.0
    # receipts, weighted by how many each route has: (number, delivered now, before)
    receipts = [(r[4], r[5], r[6]) for r in rows if r[5] is not None and r[6] is not None]
    seen = sum(n for n, _, _ in receipts)
    receipts_drop = None
    if seen > 0:
        now = sum(n * delivered for n, delivered, _ in receipts) / seen
        before = sum(n * delivered for n, _, delivered in receipts) / seen
        receipts_drop = before - now
    return z_all, z_rest, z_uneven, drop, receipts_drop


def _pooled(rows: list[_Row]) -> tuple[float, float, float]:
    """Conversions observed, expected and their variance, summed over ``rows``."""
    return sum(row[1] for row in rows), sum(row[2] for row in rows), sum(row[3] for row in rows)


def _pooled_z(rows: list[_Row]) -> float:
    observed, expected, variance = _pooled(rows)
    return (observed - expected) / math.sqrt(variance) if variance > 0 else 0.0


def _uneven_z(worst: _Row, rest: list[_Row]) -> float:
    """z of one route's ratio of observed to expected conversions minus the others'
    (pooled): about 0 when a dip is shared evenly, very negative when one route falls alone."""
    observed, expected, variance_rest = _pooled(rest)
    if worst[2] <= 0 or expected <= 0:
        return 0.0
    variance = worst[3] / worst[2] ** 2 + variance_rest / expected**2
    difference = worst[1] / worst[2] - observed / expected
    return difference / math.sqrt(variance) if variance > 0 else 0.0
