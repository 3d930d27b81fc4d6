"""Replaying a start-up read of the event log in time order (``LiveRouter.replay``): which
entries to apply at once and which, a look's interval at a time, in the order they happened,
with a look at each interval's end (as sends would have made the router look). A pure
function of the entries' times: the router applies the steps and looks."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Sent(Protocol):
    """A logged decision: its message and when it was sent."""

    @property
    def message_id(self) -> str: ...

    @property
    def sent_ms(self) -> int: ...


class Timed(Protocol):
    """A logged outcome: its message and when it happened."""

    @property
    def message_id(self) -> str: ...

    @property
    def event_ms(self) -> int: ...


D = TypeVar("D", bound=Sent)
C = TypeVar("C", bound=Timed)
R = TypeVar("R", bound=Timed)


@dataclass(frozen=True, slots=True)
class Step(Generic[D, C, R]):
    """Entries to apply together, then a look at ``look_ms`` (None: no look after them);
    with ``until_ms``, the part before looks: the ledger's time may pass to it after them."""

    decisions: Sequence[D]
    conversions: Sequence[C]
    dlrs: Sequence[R]
    look_ms: int | None
    until_ms: int | None = None


def _sent(d: Sent) -> int:
    return d.sent_ms


def _at(event: Timed) -> int:
    return event.event_ms


def replay_steps(
    decisions: Sequence[D],
    conversions: Sequence[C],
    dlrs: Sequence[R],
    recent_ms: float,
    step_ms: float,
    chunk_ms: float = 900_000.0,
    after_ms: float | None = None,
) -> list[Step[D, C, R]]:
    """The steps of a replay: first what came before the last ``recent_ms`` of the
    decisions (and those decisions' outcomes from before then), ``chunk_ms`` of it at a time
    without looks (each outcome with its decision's chunk or a later one, so it is never
    applied before the decision), then the rest in time order, ``step_ms`` at a time, each
    followed by a look while entries remain (within one step, order does not matter: the
    router's sums do not depend on it); with ``after_ms`` (where a router restored from a
    checkpoint last looked), no look before it. Without decisions, one step of everything."""
    last = max((d.sent_ms for d in decisions), default=None)
    if last is None:
        return [Step(decisions, conversions, dlrs, None)]
    # (a log shorter than ``recent_ms``, a checkpoint's tail: from its first decision on)
    begin = max(last - recent_ms, min(d.sent_ms for d in decisions) - step_ms)
    if after_ms is not None:
        begin = max(begin, after_ms)
    before = [d for d in decisions if d.sent_ms < begin]
    later = sorted((d for d in decisions if d.sent_ms >= begin), key=_sent)
    early = {d.message_id for d in before}
    conversions_before, conversions_later = _split(conversions, early, begin)
    dlrs_before, dlrs_later = _split(dlrs, early, begin)
    # an outcome in time order, but never before its decision (a client's clock may be late)
    sent_of = {d.message_id: d.sent_ms for d in later}
    c_later = sorted(
        ((max(c.event_ms, sent_of.get(c.message_id, 0)), c) for c in conversions_later), key=_first
    )
    r_later = sorted(
        ((max(r.event_ms, sent_of.get(r.message_id, 0)), r) for r in dlrs_later), key=_first
    )
    steps = _chunks(before, conversions_before, dlrs_before, chunk_ms)
    total = len(later) + len(c_later) + len(r_later)
    at, i, j, k = begin + step_ms, 0, 0, 0
    while i + j + k < total:
        i2 = bisect.bisect_right(later, at, lo=i, key=_sent)
        j2 = bisect.bisect_right(c_later, at, lo=j, key=_first)
        k2 = bisect.bisect_right(r_later, at, lo=k, key=_first)
        look = int(at) if i2 + j2 + k2 < total else None
        conversions_now = [c for _, c in c_later[j:j2]]
        steps.append(Step(later[i:i2], conversions_now, [r for _, r in r_later[k:k2]], look))
        i, j, k = i2, j2, k2
        at += step_ms
    return steps


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


def _chunks(
    decisions: Sequence[D], conversions: Sequence[C], dlrs: Sequence[R], chunk_ms: float
) -> list[Step[D, C, R]]:
    """The part before the looks, ``chunk_ms`` of send (and event) time a step, each with
    the time its end reached; at least one step."""
    if not decisions:
        return [Step(decisions, conversions, dlrs, None)]
    first = min(d.sent_ms for d in decisions)

    def chunk(at_ms: int) -> int:
        return max(0, int((at_ms - first) // chunk_ms))

    of = {d.message_id: chunk(d.sent_ms) for d in decisions}
    n = max(of.values()) + 1
    by_d: list[list[D]] = [[] for _ in range(n)]
    by_c: list[list[C]] = [[] for _ in range(n)]
    by_r: list[list[R]] = [[] for _ in range(n)]
    for d in decisions:
        by_d[of[d.message_id]].append(d)
    for c in conversions:
        by_c[min(n - 1, max(chunk(c.event_ms), of.get(c.message_id, 0)))].append(c)
    for r in dlrs:
        by_r[min(n - 1, max(chunk(r.event_ms), of.get(r.message_id, 0)))].append(r)
    return [
        Step(
            by_d[i], by_c[i], by_r[i], None, int(first + (i + 1) * chunk_ms) if i < n - 1 else None
        )
        for i in range(n)
    ]


E = TypeVar("E", bound=Timed)


def _split(events: Sequence[E], early: set[str], begin: float) -> tuple[list[E], list[E]]:
    """The outcomes of ``early`` decisions that came before ``begin``, and the others."""
    before: list[E] = []
    after: list[E] = []
    for e in events:
        (before if e.message_id in early and e.event_ms < begin else after).append(e)
    return before, after
