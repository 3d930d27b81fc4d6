"""What an adaptive candidate learns from while it is replayed: at each logged decision, a
choice of its own, drawn from its probabilities and coupled to the logged one, with the
outcomes that choice would have had.

Why: a policy that learns from its own choices, replayed on another policy's log, learns only
from the routes the logging policy took. On S2, ε-greedy replayed on convroute's log kept 90 %
of its probability on route A through A's whole outage: the log had left A within a minute,
so its estimate of A rested on the hours before and a few dozen failures, where its own run
sent 90 % to A, saw it fail and left (docs/benchmarks.md, "Offline policy evaluation").

The coupling is the maximal one between the logging policy's probabilities ``μ`` and the
candidate's ``π``: the logged route ``a`` is kept as the candidate's own with probability
``min(1, π(a) / μ(a))``, else the candidate's route is drawn from ``(π - μ)⁺`` (where the
log kept every route's probability; else from ``π`` without ``a``). The candidate's choice is
then distributed as ``π``, and a policy evaluated on its own log always keeps the logged
route, so it learns exactly what it learned when it ran. A kept route brings its logged
outcomes; another route brings those of the logged decision on that route and destination
nearest in time, shifted to this decision's time (its receipt and its conversion, or their
absence, as that route gave them then), within half an hour; where there is none, the
logged route is kept. A logged decision may lend its outcomes to many drawn ones: where the
log took a route rarely, the candidate reads those few as many (lending each once was tried:
on S2 it left ε-greedy 0.039 below its run, against 0.005; docs/benchmarks.md).

The estimators still weigh the logged rewards by ``π / μ``: this changes only the history the
candidate's probabilities are computed from.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from convroute.routing.policy import Context, Outcome

if TYPE_CHECKING:
    from convroute.evaluation.replay import LoggedStep

HORIZON_MS = 1_800_000
"""How far in time a drawn route may borrow a logged decision's outcomes."""


class Coupling:
    """The experience of a candidate replayed on ``steps`` (in time order) with their
    ``outcomes``, its choices drawn from ``rng``."""

    def __init__(
        self,
        steps: Sequence[LoggedStep],
        outcomes: Mapping[str, Sequence[Outcome]],
        rng: random.Random,
    ) -> None:
        self._outcomes = outcomes
        self._rng = rng
        # per destination and route, the logged decisions on it: their times and ids
        self._taken: dict[tuple[Context, str], tuple[list[int], list[str]]] = {}
        for s in steps:
            times, ids = self._taken.setdefault((s.context, s.chosen), ([], []))
            times.append(s.sent_ms)
            ids.append(s.decision_id)
        self.kept = 0  # decisions whose logged route the candidate kept
        self.drawn = 0  # and those it chose another route at, with that route's outcomes

    def experience(
        self, step: LoggedStep, target: Mapping[str, float]
    ) -> tuple[str, str, Sequence[Outcome]]:
        """The decision the candidate learns from at ``step``, given its probabilities
        ``target``: an id, the route, and its outcomes."""
        keep = self._rng.random() * step.propensity < target.get(step.chosen, 0.0)
        route = None if keep else self._draw(step, target)
        nearest = None if route is None else self._nearest(step.context, route, step.sent_ms)
        if route is None or nearest is None:
            self.kept += 1
            return step.decision_id, step.chosen, self._outcomes.get(step.decision_id, ())
        source, source_ms = nearest
        shift = step.sent_ms - source_ms
        own = f"{step.decision_id}~{route}"
        self.drawn += 1
        return (
            own,
            route,
            [Outcome(own, o.kind, o.at_ms + shift) for o in self._outcomes.get(source, ())],
        )

    def _draw(self, step: LoggedStep, target: Mapping[str, float]) -> str | None:
        """A route from the candidate's probability beyond the log's (``(π - μ)⁺``), or from
        its probability of the routes other than the logged one where only that was logged."""
        routes = [c.route_id for c in step.candidates]
        if step.logged is not None:
            mass = [
                max(0.0, target.get(r, 0.0) - mu) for r, mu in zip(routes, step.logged, strict=True)
            ]
        else:
            mass = [0.0 if r == step.chosen else target.get(r, 0.0) for r in routes]
        total = sum(mass)
        if total <= 0.0:
            return None
        x = self._rng.random() * total
        for route, m in zip(routes, mass, strict=True):
            x -= m
            if x < 0.0:
                return route
        return next(r for r, m in zip(reversed(routes), reversed(mass), strict=True) if m > 0.0)

    def _nearest(self, context: Context, route: str, at_ms: int) -> tuple[str, int] | None:
        """The logged decision on ``route`` at ``context`` sent nearest ``at_ms``, within
        ``HORIZON_MS``: its id and time; None if there is none."""
        taken = self._taken.get((context, route))
        if taken is None:
            return None
        times, ids = taken
        i = bisect.bisect_left(times, at_ms)
        j = min((k for k in (i - 1, i) if 0 <= k < len(times)), key=lambda k: abs(times[k] - at_ms))
        if abs(times[j] - at_ms) > HORIZON_MS:
            return None
        return ids[j], times[j]
