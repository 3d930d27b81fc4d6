"""Change points: where a route's conversion rate changed, found from its recent history.

The ledger's forgetting sums say *that* a route changed (its fast memory departs from its
slow one) but not *when*, so after a change they keep mixing the old rate in for a few
forgetting times. A route's decisions are also counted by slice of send time (``History``:
decisions and conversions per ten seconds, plain sums, so the same whatever order outcomes
arrive in), and ``change_point`` runs a generalized likelihood ratio (GLR) test over them:
for every split of the recent slices into before and after, how much better two Bernoulli
rates explain the conversions than one. Where the best split beats the threshold, the route
changed there, and the evidence sent since is all that describes it now (the test of Besson,
Kaufmann, Maillard & Seznec, "Efficient change-point detection for tackling piecewise-
stationary bandits", JMLR 2022, on delay-corrected exposures instead of pulls).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from convroute.routing.policy import Context

Key = tuple[Context, str]  # (context, route id)


@dataclass(slots=True)
class Slice:
    """A route's decisions sent in one slice of time, in one context."""

    sent: float = 0.0  # decisions (canceled ones taken out)
    converted: float = 0.0
    offset_ms: float = 0.0  # the sum of their send times after the slice's start


class History:
    """Decisions and conversions per (context, route) and slice of send time, kept for
    ``horizon_ms``."""

    def __init__(self, slice_ms: float = 10_000.0, horizon_ms: float = 3_600_000.0) -> None:
        if slice_ms <= 0 or horizon_ms < slice_ms:
            raise ValueError("a history needs slice_ms > 0 and horizon_ms >= slice_ms")
        self.slice_ms = slice_ms
        self.horizon_ms = horizon_ms
        self.slices: dict[Key, dict[int, Slice]] = {}

    def set_pace(self, pace: float) -> None:
        """Every time constant divided by ``pace`` (before the first decision)."""
        self.slice_ms /= pace
        self.horizon_ms /= pace

    def add(self, key: Key, sent_ms: int) -> Slice:
        """A decision sent at ``sent_ms``: its slice, counting it."""
        index = int(sent_ms // self.slice_ms)
        slices = self.slices.get(key)
        if slices is None:
            slices = self.slices[key] = {}
        cell = slices.get(index)
        if cell is None:
            cell = slices[index] = Slice()
        cell.sent += 1.0
        cell.offset_ms += sent_ms - index * self.slice_ms
        return cell

    def remove(self, cell: Slice, sent_ms: int, converted: bool) -> None:
        """A decision counted in ``cell`` leaves (canceled)."""
        cell.sent -= 1.0
        cell.offset_ms -= sent_ms - int(sent_ms // self.slice_ms) * self.slice_ms
        if converted:
            cell.converted -= 1.0

    def rows(
        self,
        key: Key,
        start_ms: float,
        now_ms: int,
        exposure_at: Callable[[float], float],
        window_ms: float = math.inf,
    ) -> list[tuple[float, float, float]]:
        """(slice start, exposure, conversions) for the slices of ``key`` from ``start_ms``
        (and within the horizon) to now, oldest first; ``exposure_at(age_ms)`` is a
        decision's exposure at that age, 1 from ``window_ms`` on. Slices past the horizon
        are dropped."""
        slices = self.slices.get(key)
        if not slices:
            return []
        width = self.slice_ms
        oldest = int((now_ms - self.horizon_ms) // width)
        while slices:  # drop what is past the horizon (slices come in time order, mostly)
            first = next(iter(slices))
            if first >= oldest:
                break
            del slices[first]
        begin = max(oldest, int(start_ms // width))
        indices = [i for i in slices if i >= begin]
        indices.sort()  # already in order but for decisions recorded late: linear
        # slices that ended a window ago: every decision in them has exposure 1
        settled = (now_ms - window_ms) // width - 1
        out = []
        for index in indices:
            cell = slices[index]
            if cell.sent <= 0.5:
                continue
            start = index * width
            if index <= settled:
                out.append((start, cell.sent, cell.converted))
            else:
                age = now_ms - (start + cell.offset_ms / cell.sent)
                out.append((start, cell.sent * exposure_at(age), cell.converted))
        return out


def totals(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """The exposure and the conversions of ``rows`` (as ``History.rows`` gives them)."""
    exposure = converted = 0.0
    for _, e, c in rows:
        exposure += e
        converted += c
    return exposure, converted


def bernoulli_kl(p: float, q: float) -> float:
    """kl(Bernoulli(p), Bernoulli(q)), both clipped away from 0 and 1."""
    eps = 1e-9
    p = min(max(p, eps), 1.0 - eps)
    q = min(max(q, eps), 1.0 - eps)
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


def change_point(rows: list[tuple[float, float, float]], delta: float) -> float | None:
    """The start of the first slice after the most likely change point of ``rows`` ((slice
    start, exposure, conversions), oldest first), if the GLR statistic there exceeds
    ``log(n^1.5 / delta)`` (n: the total exposure); None if no change stands out."""
    total, converted = totals(rows)
    if total < 2.0:
        return None
    # rates with half an observation each way (Jeffreys): young slices can hold more
    # conversions than their exposure, and a rate of exactly 0 or 1 would weigh without end
    p = (converted + 0.5) / (total + 1.0)
    threshold = math.log(total**1.5 / delta)
    n1 = c1 = 0.0
    best, split = 0.0, None
    for i in range(len(rows) - 1):
        row = rows[i]
        n1 += row[1]
        c1 += row[2]
        n2 = total - n1
        if n2 < 1.0:
            break  # and so for every later split
        if n1 < 1.0:
            continue
        c2 = converted - c1
        g = n1 * bernoulli_kl((c1 + 0.5) / (n1 + 1.0), p) + n2 * bernoulli_kl(
            (c2 + 0.5) / (n2 + 1.0), p
        )
        if g > best:
            best, split = g, rows[i + 1][0]
    return split if best > threshold else None
