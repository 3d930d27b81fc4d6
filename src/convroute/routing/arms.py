"""The ledger's values: the sums of one route in one context (``Arm``), one decision's state
(``Record``), and the conversion-delay distribution as straight lines (``segments``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from convroute.routing.changes import Slice
from convroute.routing.delay import ConversionDelay
from convroute.routing.policy import Context, OutcomeKind

Key = tuple[Context, str]  # (context, route id)

SETTLED_ENOUGH = 0.9  # change tests read slices old enough for this share to have converted


def parents(context: Context) -> list[Context]:
    """The wider contexts a context borrows from: its country, then the route everywhere."""
    if context.network is not None:
        return [
            Context(context.country, None, context.traffic),
            Context("*", None, context.traffic),
        ]
    if context.country != "*":
        return [Context("*", None, context.traffic)]
    return []


class Scale:
    """One memory: decisions sent at ``s`` weigh ``exp((s - anchor) / tau)`` in its sums."""

    __slots__ = ("anchor_ms", "tau_ms")

    def __init__(self, tau_s: float | None = None) -> None:
        self.tau_ms = None if tau_s is None else tau_s * 1000.0
        self.anchor_ms: int | None = None

    def weight(self, sent_ms: int) -> float:
        """A decision's weight, relative to the current anchor."""
        if self.tau_ms is None or self.anchor_ms is None:
            return 1.0
        return math.exp((sent_ms - self.anchor_ms) / self.tau_ms)

    def scale(self, now_ms: int) -> float:
        """Multiply a scaled sum by this to get its forgotten value at ``now_ms``."""
        if self.tau_ms is None or self.anchor_ms is None:
            return 1.0
        return math.exp(-(now_ms - self.anchor_ms) / self.tau_ms)


@dataclass(slots=True)
class Arm:
    """The sums for one route in one context (all weights scaled to the anchor)."""

    sent: float = 0.0  # every decision
    settled: float = 0.0  # decisions whose window is over: exposure 1
    converted: float = 0.0
    dlr_seen: float = 0.0  # decisions with a receipt
    dlr_delivered: float = 0.0
    # calibration: settled decisions and their conversions, by what the receipt said when
    # the decision settled (delivered / failed / none)
    cal_delivered: float = 0.0
    cal_delivered_conv: float = 0.0
    cal_failed: float = 0.0
    cal_failed_conv: float = 0.0
    # decisions whose window is not over yet, converted or not: exposure F(age)
    # Decisions whose window is not over yet, converted or not, have exposure F(age).
    # With F piecewise linear, a pending decision in segment j adds w * (a_j + b_j * age) to
    # the exposure, age = now - sent. Three sums make the total O(1) at any time:
    # sum(w * a_j) + now * sum(w * b_j) - sum(w * b_j * sent)  (times relative to an origin).
    lin_a: float = 0.0
    lin_b: float = 0.0
    lin_c: float = 0.0

    def copy(self) -> Arm:
        """The same sums, apart."""
        return Arm(*(getattr(self, name) for name in _SUMS))

    def restore(self, other: Arm) -> None:
        """Take ``other``'s sums back."""
        for name in _SUMS:
            setattr(self, name, getattr(other, name))


_SUMS = (
    "sent",
    "settled",
    "converted",
    "dlr_seen",
    "dlr_delivered",
    "cal_delivered",
    "cal_delivered_conv",
    "cal_failed",
    "cal_failed_conv",
    "lin_a",
    "lin_b",
    "lin_c",
)
"""Every sum of an arm, in the order of its fields."""


@dataclass(slots=True)
class Record:
    """One decision's state in the ledger."""

    decision_id: str
    key: Key
    sent_ms: int
    arms: tuple[Arm, ...]  # its (context, route)'s sums, one per memory
    weights: tuple[float, ...]  # its weight in each memory, relative to the anchors of ``epoch``
    epoch: int
    resolved: OutcomeKind | None = None
    dlr: OutcomeKind | None = None
    open: bool = True  # its window not over: exposure F(age), not yet settled
    segment: int = 0  # which segment of F its age is in, while open
    slice: Slice | None = None  # where the ledger's history (if kept) counts it


# F is approximated by straight lines between the ages at which it reaches these levels.
# Eight segments keep the error on F under 0.02 (tested) for a few crossings per decision.
LEVELS = (0.0, 0.04, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0)


def segments(delay: ConversionDelay) -> tuple[list[float], list[float], list[float]]:
    """Breakpoints (ms of age) and, per segment, ``F(age) ~ alpha + beta * age``."""
    window_ms = delay.window_s * 1000.0
    bounds = [0.0] + [delay.age_ms(q) for q in LEVELS[1:-1]] + [window_ms]
    alphas, betas = [], []
    for start, end in itertools.pairwise(bounds):
        f0, f1 = delay.cdf(start / 1000.0), delay.cdf(end / 1000.0)
        beta = (f1 - f0) / (end - start) if end > start else 0.0
        alphas.append(f0 - beta * start)
        betas.append(beta)
    return bounds, alphas, betas


def sent_ms_of(record: Record) -> int:
    return record.sent_ms
