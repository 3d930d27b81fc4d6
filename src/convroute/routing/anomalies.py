"""Anomalies (DESIGN 6): what they are, and the test of receipts that diverge.

Four kinds, per destination (a routing context) and, but for pumping, per route:

* ``pumping``: a dip of conversions shared evenly by every route of a destination while the
  receipts still say "delivered" (SMS pumping, ``pumping.PumpingWatch``);
* ``conversion_drop``: one route's conversions fall far below its own rate from before,
  deeper than the other routes' (an outage, a silent degradation);
* ``receipts_diverge``: a route's receipts say "delivered" for messages that convert far less
  than the other routes' delivered ones (fake receipts);
* ``no_receipts``: a route that sends (almost) no receipts for its messages.

Each is an episode (``Anomaly``): raised at a check, with a severity and the figures behind it,
and cleared by a later check once they no longer hold. ``watch.AnomalyWatch`` watches them all
(pumping through ``pumping.PumpingWatch``).

Pure: no I/O, the clock is the ``now_ms`` each call passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from convroute.routing.estimates import Estimate
from convroute.routing.policy import Context

PUMPING = "pumping"
CONVERSION_DROP = "conversion_drop"
RECEIPTS_DIVERGE = "receipts_diverge"
NO_RECEIPTS = "no_receipts"
KINDS = (PUMPING, CONVERSION_DROP, RECEIPTS_DIVERGE, NO_RECEIPTS)


@dataclass
class Anomaly:
    """One episode: when it was raised and cleared, how deep, and the figures behind it."""

    kind: str
    context: Context
    started_ms: int
    cleared_ms: int | None = None
    severity: float = 0.0  # how deep, 0 to 1 (a drop of conversions: 0.4 is -40 %)
    evidence: dict[str, float] = field(default_factory=dict)
    route_id: str | None = None  # the route it is about (None: the whole destination)

    @property
    def active(self) -> bool:
        return self.cleared_ms is None

    def __reduce__(self) -> tuple[type[Anomaly], tuple[object, ...]]:
        # (made again from its fields: the compiled build's classes need their arguments)
        return (Anomaly, (self.kind, self.context, self.started_ms, self.cleared_ms,
                          self.severity, self.evidence, self.route_id))  # fmt: skip


def receipt_gaps(
    route_ids: list[str], estimates: list[Estimate]
) -> dict[str, tuple[float, float, float]]:
    """Per route whose receipts are calibrated (settled decisions with a delivered receipt,
    ``Estimate.calibration``) while another's are too: P(convert | delivered) on it, the same
    on the other routes pooled (weighted by their settled delivered decisions), and the
    standard error of the difference."""
    known: list[tuple[str, float, float]] = []  # (route, P(convert | delivered), how many)
    for route_id, e in zip(route_ids, estimates, strict=True):
        if e.calibration is not None:
            if_delivered, _, delivered, _ = e.calibration
            known.append((route_id, if_delivered, max(1.0, delivered)))
    all_weight = sum(n for _, _, n in known)
    all_converted = sum(p * n for _, p, n in known)
    out: dict[str, tuple[float, float, float]] = {}
    for route_id, mine, delivered in known:
        weight = all_weight - delivered  # the other routes'
        if len(known) < 2 or weight <= 0.0:
            continue
        others = (all_converted - mine * delivered) / weight
        out[route_id] = (mine, others, math.sqrt(max(0.01, others * (1.0 - others)) / delivered))
    return out


def diverging_receipts(
    route_ids: list[str], estimates: list[Estimate], z: float = 3.0, ratio: float = 0.5
) -> dict[str, tuple[float, float]]:
    """The routes whose receipts say "delivered" for messages that convert far less than the
    messages the other routes' receipts say delivered (a route faking its receipts, or
    delivering to the wrong place). Per such route: P(convert | delivered) on it, and on the
    other routes pooled.

    Users convert at the same rate whichever route delivered their code, so an honest
    route's delivered messages convert about as the others' do. A route is flagged when its
    rate is under ``ratio`` of the others' and below it by more than ``z`` standard errors
    (``receipt_gaps``). Stateless: ask again to see whether it still holds."""
    return {
        route_id: (mine, others)
        for route_id, (mine, others, spread) in receipt_gaps(route_ids, estimates).items()
        if mine < ratio * others and others - mine > z * spread
    }
