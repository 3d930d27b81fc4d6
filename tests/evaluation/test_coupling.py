"""A candidate replayed coupled to the log: its choices are distributed as its own
probabilities, kept where they agree with the log, and a route it chose brings the outcomes
that route gave nearest in time."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.evaluation.coupling import Coupling
from convroute.evaluation.replay import LoggedStep
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

GB = Context("GB", "23410")
ROUTES = ("A", "B", "C")
CANDIDATES = tuple(Candidate(r, 0.02) for r in ROUTES)


def _step(i: int, chosen: str, mu: tuple[float, ...] | None, at_ms: int) -> LoggedStep:
    p = mu[ROUTES.index(chosen)] if mu else 0.5
    return LoggedStep(f"d{i}", GB, CANDIDATES, chosen, p, at_ms, True, mu)


def _simplex(draw: st.DrawFn) -> tuple[float, ...]:
    raw = [draw(st.integers(1, 20)) for _ in ROUTES]
    return tuple(x / sum(raw) for x in raw)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_candidates_choices_are_distributed_as_its_probabilities(data: st.DataObject) -> None:
    mu = data.draw(st.composite(_simplex)())
    pi = data.draw(st.composite(_simplex)())
    rng = random.Random(data.draw(st.integers(0, 1000)))
    n = 6000
    # a log that took every route around then, so that a drawn route has outcomes to borrow
    history = [_step(-i, r, mu, 4000 + i) for i, r in enumerate(ROUTES)]
    coupling = Coupling(history, {}, rng)
    seen: Counter[str] = Counter()
    for i in range(n):
        logged = rng.choices(ROUTES, weights=mu)[0]
        _, route, _ = coupling.experience(
            _step(10 + i, logged, mu, 5000), dict(zip(ROUTES, pi, strict=True))
        )
        seen[route] += 1
    for route, p in zip(ROUTES, pi, strict=True):
        assert abs(seen[route] / n - p) < 0.035, (route, seen, pi)


def test_the_logging_policy_keeps_every_logged_route() -> None:
    mu = (0.7, 0.2, 0.1)
    rng = random.Random(1)
    steps = [_step(i, rng.choices(ROUTES, weights=mu)[0], mu, i) for i in range(500)]
    coupling = Coupling(steps, {}, random.Random(2))
    for s in steps:
        decision_id, route, _ = coupling.experience(s, dict(zip(ROUTES, mu, strict=True)))
        assert (decision_id, route) == (s.decision_id, s.chosen)
    assert (coupling.kept, coupling.drawn) == (500, 0)


def test_a_route_chosen_brings_the_nearest_outcomes_of_that_route_shifted() -> None:
    """The candidate wants C; the log took A here and C twice, at 1 s and at 100 s: C's
    decision at 100 s is nearest to 90 s, and its outcomes come shifted by -10 s (from
    within half an hour only)."""
    early, late = _step(1, "C", None, 1_000), _step(2, "C", None, 100_000)
    here = _step(3, "A", None, 90_000)
    outcomes = {
        "d1": [Outcome("d1", OutcomeKind.CONVERTED, 21_000)],
        "d2": [
            Outcome("d2", OutcomeKind.DLR_FAILED, 102_000),
            Outcome("d2", OutcomeKind.NOT_CONVERTED, 400_000),
        ],
        "d3": [Outcome("d3", OutcomeKind.CONVERTED, 95_000)],
    }
    coupling = Coupling([early, here, late], outcomes, random.Random(0))
    decision_id, route, seen = coupling.experience(here, {"C": 1.0})
    assert (route, decision_id) == ("C", "d3~C")
    assert seen == [
        Outcome("d3~C", OutcomeKind.DLR_FAILED, 92_000),
        Outcome("d3~C", OutcomeKind.NOT_CONVERTED, 390_000),
    ]
    # where the log never took the route there, or only longer ago than half an hour, the
    # logged route is kept, with its own outcomes
    assert coupling.experience(here, {"B": 1.0}) == ("d3", "A", outcomes["d3"])
    far = _step(4, "A", None, 90_000 + 1_900_000)
    assert Coupling([late, far], outcomes, random.Random(0)).experience(far, {"C": 1.0})[1] == "A"
