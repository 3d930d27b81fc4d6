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

import bisect
import math
from dataclasses import dataclass
from typing import Final

from convroute.routing.delay import ConversionDelay
from convroute.routing.policy import Context

Key = tuple[Context, str]  # (context, route id)


class Row:
    """A slice of a route's history as the test reads it (shared between reads: not to be
    changed). A plain class, not a dataclass, so that the compiled build makes it natively."""

    __slots__ = ("converted", "exposure", "start")

    def __init__(self, start: float, exposure: float, converted: float) -> None:
        self.start = start  # the slice's start (ms)
        self.exposure = exposure  # its decisions' delay-corrected exposure
        self.converted = converted  # their conversions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return (self.start, self.exposure, self.converted) == (
            other.start,
            other.exposure,
            other.converted,
        )

    def __repr__(self) -> str:
        return f"Row({self.start!r}, {self.exposure!r}, {self.converted!r})"

    def __reduce__(self) -> tuple[type[Row], tuple[float, float, float]]:
        # (made again from its fields: the compiled build's classes need their arguments)
        return (Row, (self.start, self.exposure, self.converted))


def _start(row: Row) -> float:
    return row.start


@dataclass(slots=True)
class Slice:
    """A route's decisions sent in one slice of time, in one context."""

    sent: float = 0.0  # decisions (canceled ones taken out)
    converted: float = 0.0
    offset_ms: float = 0.0  # the sum of their send times after the slice's start
    key: Key | None = None  # whose slice it is
    kept: bool = False  # whether its row is in its key's settled rows (``History.rows``)


@dataclass(slots=True)
class _Settled:
    """A key's rows of settled slices (exposure 1 each), oldest first, up to slice ``upto``:
    they change only where one of their slices changes, which drops them."""

    rows: list[Row]
    upto: int

    def __reduce__(self) -> tuple[type[_Settled], tuple[list[Row], int]]:
        return (_Settled, (self.rows, self.upto))


class History:
    """Decisions and conversions per (context, route) and slice of send time, kept for
    ``horizon_ms``."""

    def __init__(self, slice_ms: float = 10_000.0, horizon_ms: float = 3_600_000.0) -> None:
        if slice_ms <= 0 or horizon_ms < slice_ms:
            raise ValueError("a history needs slice_ms > 0 and horizon_ms >= slice_ms")
        self.slice_ms = slice_ms
        self.horizon_ms = horizon_ms
        self.slices: dict[Key, dict[int, Slice]] = {}
        self._latest: dict[Key, int] = {}  # per key, its latest slice
        self._settled: dict[Key, _Settled] = {}

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
            cell = slices[index] = Slice(key=key)
            if index > self._latest.get(key, index - 1):
                self._latest[key] = index
            kept = self._settled.get(key)
            if kept is not None and index <= kept.upto:  # a decision recorded late
                del self._settled[key]
        elif cell.kept:
            self._changed(cell)
        cell.sent += 1.0
        cell.offset_ms += sent_ms - index * self.slice_ms
        return cell

    def convert(self, cell: Slice) -> None:
        """A decision counted in ``cell`` converted."""
        if cell.kept:
            self._changed(cell)
        cell.converted += 1.0

    def remove(self, cell: Slice, sent_ms: int, converted: bool) -> None:
        """A decision counted in ``cell`` leaves (canceled)."""
        if cell.kept:
            self._changed(cell)
        cell.sent -= 1.0
        cell.offset_ms -= sent_ms - int(sent_ms // self.slice_ms) * self.slice_ms
        if converted:
            cell.converted -= 1.0

    def _changed(self, cell: Slice) -> None:
        # a settled slice changed (a late outcome): its key's settled rows are built again
        cell.kept = False
        if cell.key is not None:
            self._settled.pop(cell.key, None)

    def rows(
        self,
        key: Key,
        start_ms: float,
        now_ms: int,
        delay: ConversionDelay,
        pure: bool = False,
    ) -> list[Row]:
        """A ``Row`` (slice start, exposure, conversions) per slice of ``key`` from
        ``start_ms`` (and within the horizon) to now, oldest first; a decision's exposure is
        ``delay.exposure_at`` its age, 1 from the window's close on. Slices past the horizon
        are dropped.

        The rows of slices that ended a window ago (settled: every decision in them has
        exposure 1) are kept between calls and extended, so a call builds only the rows of
        the slices still converting. A ``pure`` read (an operator's, at any time) drops and
        keeps nothing: it builds every row afresh."""
        slices = self.slices.get(key)
        if not slices:
            return []
        width = self.slice_ms
        oldest = int((now_ms - self.horizon_ms) // width)
        if pure:
            return self._fresh_rows(key, slices, oldest, start_ms, now_ms, delay)
        while slices:  # drop what is past the horizon (slices come in time order, mostly)
            first = next(iter(slices))
            if first >= oldest:
                break
            del slices[first]
        if not slices:
            self._settled.pop(key, None)
            return []
        settled = int((now_ms - delay.window_s * 1000.0) // width - 1)
        kept = self._settled.get(key)
        if kept is None or settled < kept.upto:  # (a read in the past builds them again)
            kept = self._settled[key] = self._build(slices, oldest, settled)
        else:
            self._extend(kept, slices, settled)
        pruned = 0
        first_ms = oldest * width
        while pruned < len(kept.rows) and kept.rows[pruned].start < first_ms:
            pruned += 1
        if pruned:
            del kept.rows[:pruned]
        begin = max(oldest, int(start_ms // width))
        out = kept.rows[bisect.bisect_left(kept.rows, begin * width, key=_start) :]
        for index in range(max(begin, settled + 1), self._latest[key] + 1):
            cell = slices.get(index)
            if cell is None or cell.sent <= 0.5:
                continue
            start = index * width
            age = now_ms - (start + cell.offset_ms / cell.sent)
            out.append(Row(start, cell.sent * delay.exposure_at(age), cell.converted))
        return out

    def _fresh_rows(
        self,
        key: Key,
        slices: dict[int, Slice],
        oldest: int,
        start_ms: float,
        now_ms: int,
        delay: ConversionDelay,
    ) -> list[Row]:
        width = self.slice_ms
        settled = int((now_ms - delay.window_s * 1000.0) // width - 1)
        begin = max(oldest, int(start_ms // width))
        out = []
        for index in sorted(i for i in slices if begin <= i <= self._latest[key]):
            cell = slices[index]
            if cell.sent <= 0.5:
                continue
            start = index * width
            if index <= settled:
                out.append(Row(start, cell.sent, cell.converted))
            else:
                age = now_ms - (start + cell.offset_ms / cell.sent)
                out.append(Row(start, cell.sent * delay.exposure_at(age), cell.converted))
        return out

    def _build(self, slices: dict[int, Slice], oldest: int, settled: int) -> _Settled:
        indices = [i for i in slices if oldest <= i <= settled]
        indices.sort()  # already in order but for decisions recorded late: linear
        rows = []
        width = self.slice_ms
        for index in indices:
            cell = slices[index]
            cell.kept = True
            if cell.sent > 0.5:
                rows.append(Row(index * width, cell.sent, cell.converted))
        return _Settled(rows, settled)

    def _extend(self, kept: _Settled, slices: dict[int, Slice], settled: int) -> None:
        width = self.slice_ms
        for index in range(kept.upto + 1, settled + 1):
            cell = slices.get(index)
            if cell is None:
                continue
            cell.kept = True
            if cell.sent > 0.5:
                kept.rows.append(Row(index * width, cell.sent, cell.converted))
        kept.upto = settled


def totals(rows: list[Row]) -> tuple[float, float]:
    """The exposure and the conversions of ``rows`` (as ``History.rows`` gives them)."""
    exposure = converted = 0.0
    for row in rows:
        exposure += row.exposure
        converted += row.converted
    return exposure, converted


def shortfall(rows: list[tuple[list[Row], float]]) -> tuple[float, float, float]:
    """Conversions expected and observed, and the variance of that difference, pooled: per
    route, its rows and the rate that predicts them."""
    expected = observed = variance = 0.0
    for route_rows, m in rows:
        for row in route_rows:
            e = row.exposure
            expected += e * m
            observed += row.converted
            variance += e * m * (1.0 - m)
    return expected, observed, variance


def shortfall_z(rows: list[tuple[list[Row], float]]) -> float:
    """How many standard errors the conversions of the rows fall short of what each route's
    rate predicts (``shortfall``; positive: fewer than predicted, 0 without evidence)."""
    expected, observed, variance = shortfall(rows)
    return (expected - observed) / math.sqrt(variance) if variance > 0 else 0.0


EPS: Final = 1e-9  # rates are clipped to [EPS, 1 - EPS] before a divergence is taken


def _clipped(p: float) -> float:
    return EPS if p < EPS else 1.0 - EPS if p > 1.0 - EPS else p


def bernoulli_kl(p: float, q: float) -> float:
    """kl(Bernoulli(p), Bernoulli(q)), both clipped away from 0 and 1."""
    p = _clipped(p)
    q = _clipped(q)
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


def change_point(rows: list[Row], delta: float) -> float | None:
    """The start of the first slice after the most likely change point of ``rows`` (slice
    start, exposure, conversions; oldest first), if the GLR statistic there exceeds
    ``log(n^1.5 / delta)`` (n: the total exposure); None if no change stands out.

    A split's statistic is taken only where a bound on it, without logarithms, could beat
    both the threshold and the best split so far: kl(a, q) <= (a - q)^2 / (q (1 - q)) (the
    chi-square bound). The answer is the same as taking them all; most splits of a steady
    route are far below the threshold, and the test costs a few multiplications for each."""
    total, converted = totals(rows)
    if total < 2.0:
        return None
    # rates with half an observation each way (Jeffreys): young slices can hold more
    # conversions than their exposure, and a rate of exactly 0 or 1 would weigh without end
    p = (converted + 0.5) / (total + 1.0)
    q = _clipped(p)
    scale = (1.0 + 1e-6) / (q * (1.0 - q))  # (a margin over the rounding of the bound)
    threshold = math.log(total**1.5 / delta)
    n1 = c1 = 0.0
    best, split = 0.0, None
    bar = threshold  # what a split's statistic must beat: the threshold, then the best so far
    high = 1.0 - EPS
    for row, after in zip(rows, rows[1:]):  # noqa: B905, RUF007 (compiled: a plain loop)
        n1 += row.exposure
        c1 += row.converted
        n2 = total - n1
        if n2 < 1.0:
            break  # and so for every later split
        if n1 < 1.0:
            continue
        c2 = converted - c1
        p1 = (c1 + 0.5) / (n1 + 1.0)
        p2 = (c2 + 0.5) / (n2 + 1.0)
        # the rates clipped as ``bernoulli_kl`` clips them (written out: no call per split)
        d1 = (p1 if EPS <= p1 <= high else EPS if p1 < EPS else high) - q
        d2 = (p2 if EPS <= p2 <= high else EPS if p2 < EPS else high) - q
        if (n1 * d1 * d1 + n2 * d2 * d2) * scale <= bar:
            continue  # this split can beat neither
        g = n1 * bernoulli_kl(p1, p) + n2 * bernoulli_kl(p2, p)
        if g > best:
            best, split = g, after.start
            if best > bar:
                bar = best
    return split if best > threshold else None
