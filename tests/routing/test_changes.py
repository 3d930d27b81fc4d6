"""Change points (``routing/changes.py``): the GLR test on a route's history by slice of send
time, the history the ledger keeps for it, and the default policy's local restarts."""

from __future__ import annotations

import random

import pytest

from convroute.routing.changes import History, bernoulli_kl, change_point
from convroute.routing.estimates import ConversionDelay, Ledger
from convroute.routing.policies import Adaptive, Basis
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

CTX = Context("GB", None, "otp")
SLICE = 10_000


Rows = list[tuple[float, float, float]]


def _rows(rates: list[float], per_slice: int, rng: random.Random) -> Rows:
    """One slice per rate: ``per_slice`` settled decisions converting at that rate."""
    return [
        (i * SLICE, float(per_slice), float(sum(rng.random() < r for _ in range(per_slice))))
        for i, r in enumerate(rates)
    ]


def test_kl_is_zero_only_at_equal_rates() -> None:
    assert bernoulli_kl(0.3, 0.3) == pytest.approx(0.0)
    assert bernoulli_kl(0.9, 0.1) > bernoulli_kl(0.6, 0.4) > 0.0
    assert bernoulli_kl(0.0, 1.0) < 30  # clipped: finite at the edges


@pytest.mark.parametrize("seed", range(5))
def test_a_clear_change_is_found_where_it_happened(seed: int) -> None:
    rows = _rows([0.9] * 30 + [0.2] * 10, 10, random.Random(seed))
    split = change_point(rows, 0.001)
    assert split is not None
    assert abs(split - 30 * SLICE) <= SLICE


def test_no_change_is_found_in_a_steady_route() -> None:
    rng = random.Random(11)
    found = sum(change_point(_rows([0.5] * 100, 10, rng), 0.001) is not None for _ in range(40))
    assert found <= 1


def test_a_small_change_needs_more_evidence_than_a_large_one() -> None:
    rng = random.Random(5)
    assert change_point(_rows([0.8] * 20 + [0.75] * 20, 10, rng), 0.001) is None
    assert change_point(_rows([0.8] * 20 + [0.3] * 20, 10, rng), 0.001) is not None


def test_young_slices_with_more_conversions_than_exposure_are_no_change() -> None:
    """Seconds after sending, a slice's exposure is a fraction of its decisions, and by chance
    it can hold more conversions than that: a pooled rate of 1 must not make every slice
    without a conversion look like a change (seen after a pumping episode was taken out)."""
    rows = [
        (0.0, 0.95, 1.0),
        (20_000.0, 1.89, 1.0),
        (40_000.0, 0.91, 1.0),
        (70_000.0, 0.81, 0.0),
        (90_000.0, 1.87, 3.0),
        (100_000.0, 0.48, 1.0),
        (110_000.0, 0.03, 0.0),
    ]
    assert change_point(rows, 0.001) is None


def test_the_history_counts_by_slice_and_takes_canceled_decisions_out() -> None:
    history = History(SLICE, 60_000)
    key = (CTX, "a")
    first = history.add(key, 1_000)
    history.add(key, 3_000)
    later = history.add(key, 12_000)
    assert first.sent == 2
    assert later.sent == 1
    history.remove(first, 3_000, converted=False)
    rows = history.rows(key, 0, 20_000, lambda age_ms: 1.0)
    assert [(start, exposure) for start, exposure, _ in rows] == [(0, 1.0), (SLICE, 1.0)]
    # the exposure is taken at the slice's decisions' mean age
    ages: list[float] = []

    def exposure_at(age_ms: float) -> float:
        ages.append(age_ms)
        return 1.0

    history.rows(key, 0, 20_000, exposure_at)
    assert ages == [19_000, 8_000]
    # slices past the horizon are dropped
    assert [r[0] for r in history.rows(key, 0, 75_000, lambda age_ms: 1.0)] == [SLICE]


def test_the_ledger_history_is_the_same_whatever_order_outcomes_arrive_in() -> None:
    rng = random.Random(2)
    events = [(i, rng.choice("ab"), rng.randrange(0, 600_000)) for i in range(300)]
    outcomes = [
        Outcome(f"d{i}", rng.choice(list(OutcomeKind)), sent + rng.randrange(0, 400_000))
        for i, _, sent in events
    ]
    ledgers = []
    for order in (outcomes, list(reversed(outcomes))):
        ledger = Ledger(also_tau_s=(200.0,))
        ledger.keep_history()
        for i, route, sent in sorted(events, key=lambda e: e[2]):
            ledger.record(f"d{i}", CTX, route, sent)
        for outcome in order:
            ledger.observe(outcome)
        ledgers.append(ledger)
    for route in "ab":
        first, second = (ledger.since(CTX, route, 0, 1_000_000) for ledger in ledgers)
        assert first == second
        assert sum(r[1] for r in first) > 0


def test_the_history_is_kept_only_from_the_first_decision() -> None:
    ledger = Ledger()
    ledger.record("d0", CTX, "a", 0)
    with pytest.raises(ValueError, match="before the first decision"):
        ledger.keep_history()


def _drive(policy: Adaptive, rates: dict[str, float], start: int, steps: int, seed: int) -> None:
    """One message a second, converting (or not) at once."""
    rng = random.Random(seed)
    routes = [Candidate(r, 0.0) for r in rates]
    for t in range(start, start + steps):
        d = policy.choose(f"d{t}", CTX, routes, t * 1000, rng)
        converted = rng.random() < rates[d.route_id]
        kind = OutcomeKind.CONVERTED if converted else OutcomeKind.NOT_CONVERTED
        policy.observe(Outcome(d.decision_id, kind, t * 1000))


@pytest.mark.parametrize("seed", range(3))
def test_the_default_restarts_only_the_route_that_changed(seed: int) -> None:
    at_once = ConversionDelay(1e-3, 1e-3, 0.0)  # no conversion delay
    policy = Adaptive(Ledger(at_once, also_tau_s=(200.0,)))
    _drive(policy, {"a": 0.9, "b": 0.5}, 0, 1500, seed)
    _drive(policy, {"a": 0.1, "b": 0.5}, 1500, 120, seed)
    routes = [Candidate("a", 0.0), Candidate("b", 0.0)]
    views = {v.route_id: v for v in policy.explain(CTX, routes, 1620 * 1000)}
    assert views["a"].basis is Basis.SINCE_CHANGE
    assert views["b"].basis is Basis.LONG_TERM
    # only the evidence since the change: near the new rate, where the fast memory (which
    # still remembers the old one) is not yet
    fast = policy.ledger.own(CTX, ["a"], 1620 * 1000, 1)[0]
    assert abs(views["a"].estimate.mean - 0.1) < 0.15
    assert fast.mean > views["a"].estimate.mean + 0.1
    assert views["b"].probability > 0.5


def test_without_the_test_the_default_keeps_no_history() -> None:
    policy = Adaptive(Ledger(also_tau_s=(200.0,)), delta=None)
    assert policy.ledger.history is None
