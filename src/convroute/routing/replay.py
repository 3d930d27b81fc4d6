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
    """Entries to apply together, then a look at ``look_ms`` (None: no look after them)."""

    decisions: Sequence[D]
    conversions: Sequence[C]
    dlrs: Sequence[R]
    look_ms: int | None


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
) -> list[Step[D, C, R]]:
    """The steps of a replay: first what came before the last ``recent_ms`` of the
    decisions (and those decisions' outcomes from before then) at once, then the rest in time
    order, ``step_ms`` at a time, each followed by a look while entries remain (within one
    step, order does not matter: the router's sums do not depend on it). Without decisions,
    one step of everything."""
    last = max((d.sent_ms for d in decisions), default=None)
    if last is None:
        return [Step(decisions, conversions, dlrs, None)]
    begin = last - recent_ms
    before = [d for d in decisions if d.sent_ms < begin]
    later = sorted((d for d in decisions if d.sent_ms >= begin), key=_sent)
    early = {d.message_id for d in before}
    conversions_before, conversions_later = _split(conversions, early, begin)
    dlrs_before, dlrs_later = _split(dlrs, early, begin)
    conversions_later.sort(key=_at)
    dlrs_later.sort(key=_at)
    steps: list[Step[D, C, R]] = [Step(before, conversions_before, dlrs_before, None)]
    total = len(later) + len(conversions_later) + len(dlrs_later)
    at, i, j, k = begin + step_ms, 0, 0, 0
    while i + j + k < total:
        i2 = bisect.bisect_right(later, at, lo=i, key=_sent)
        j2 = bisect.bisect_right(conversions_later, at, lo=j, key=_at)
        k2 = bisect.bisect_right(dlrs_later, at, lo=k, key=_at)
        look = int(at) if i2 + j2 + k2 < total else None
        steps.append(Step(later[i:i2], conversions_later[j:j2], dlrs_later[k:k2], look))
        i, j, k = i2, j2, k2
        at += step_ms
    return steps


E = TypeVar("E", bound=Timed)


def _split(events: Sequence[E], early: set[str], begin: float) -> tuple[list[E], list[E]]:
    """The outcomes of ``early`` decisions that came before ``begin``, and the others."""
    before: list[E] = []
    after: list[E] = []
    for e in events:
        (before if e.message_id in early and e.event_ms < begin else after).append(e)
    return before, after
