"""Pooled borrowing (``Ledger.borrowing(pooled=True)``, the default policy's): a destination's
estimate of a route takes as many pseudo-observations of the wider level as the spread of
that route's rate between destinations warrants."""

from __future__ import annotations

import copy
import random

import pytest

from convroute.routing.convroute_policy import ConvroutePolicy
from convroute.routing.estimates import POOL_MAX, REREAD_MS, Ledger
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

NOW = 400_000


def _fill(ledger: Ledger, rates: dict[Context, float], per_place: int, seed: int = 1) -> None:
    """``per_place`` settled decisions of route ``a`` in each context, converting at its rate."""
    rng = random.Random(seed)
    for context, rate in rates.items():
        for n in range(per_place):
            decision = f"{context.network}-{seed}-{n}"
            ledger.record(decision, context, "a", 0)
            kind = OutcomeKind.CONVERTED if rng.random() < rate else OutcomeKind.NOT_CONVERTED
            ledger.observe(Outcome(decision, kind, 1_000))


def _networks(count: int) -> list[Context]:
    return [Context(f"C{i % 4}", f"N{i}", "otp") for i in range(count)]


def test_destinations_that_agree_lend_much_and_those_that_differ_little() -> None:
    agree, differ = Ledger(tau_s=None), Ledger(tau_s=None)
    places = _networks(12)
    _fill(agree, dict.fromkeys(places, 0.8), 300)
    _fill(differ, {p: 0.3 + 0.6 * (i % 2) for i, p in enumerate(places)}, 300)
    strong = agree.pool_strength(places[0], "a", NOW)
    weak = differ.pool_strength(places[0], "a", NOW)
    assert strong is not None
    assert weak is not None
    assert strong > 50  # sampling noise alone: as much as the bound allows, or near it
    assert weak < 5  # rates 0.3 and 0.9: a destination's own evidence must decide


def test_too_few_destinations_to_judge_borrow_as_before() -> None:
    ledger = Ledger(tau_s=None)
    places = _networks(2)
    _fill(ledger, dict.fromkeys(places, 0.8), 300)
    assert ledger.pool_strength(places[0], "a", NOW) is None
    new = Context("C9", "N99", "otp")
    pooled = ledger.borrowing(new, ["a"], ledger.own(new, ["a"], NOW), NOW, pooled=True)
    plain = ledger.estimates(new, ["a"], NOW)
    assert pooled == plain  # the flat BORROW of a sparse destination, and nothing counted
    assert pooled[0].borrowed == 0.0


def test_pooled_estimate_of_a_small_destination_leans_on_the_wider_level() -> None:
    ledger = Ledger(tau_s=None)
    places = _networks(12)
    _fill(ledger, dict.fromkeys(places, 0.8), 300)
    small = Context("C0", "Small", "otp")
    _fill(ledger, {small: 0.2}, 5, seed=7)  # five unlucky messages
    (plain,) = ledger.estimates(small, ["a"], NOW)
    (pooled,) = ledger.borrowing(small, ["a"], ledger.own(small, ["a"], NOW), NOW, pooled=True)
    assert plain.mean < 0.7  # five of its own weigh half as much as the flat BORROW
    assert pooled.mean > 0.75  # twelve destinations at 0.8 say it is noise
    assert pooled.borrowed > 50
    assert pooled.exposure == pytest.approx(5)
    # the bound: never more than POOL_MAX pseudo-observations
    assert pooled.borrowed <= POOL_MAX


def test_a_destination_that_really_differs_is_followed_once_it_has_evidence() -> None:
    ledger = Ledger(tau_s=None)
    places = _networks(12)
    rates = {p: 0.5 + 0.4 * (i % 2) for i, p in enumerate(places)}
    _fill(ledger, rates, 400)
    odd = Context("C1", "Odd", "otp")
    _fill(ledger, {odd: 0.1}, 400, seed=3)
    (pooled,) = ledger.borrowing(odd, ["a"], ledger.own(odd, ["a"], NOW), NOW, pooled=True)
    assert pooled.mean == pytest.approx(0.1, abs=0.05)


def test_the_policy_explores_small_destinations_less_when_they_agree() -> None:
    """Twelve destinations on which route ``a`` converts 0.8 and ``b`` 0.6: a new, small one
    is routed on what the others show, not explored as if nothing were known."""
    policy = ConvroutePolicy(watch=False, delta=None)
    places = _networks(12)
    rng = random.Random(5)
    n = 0
    for place in places:
        for route, rate in (("a", 0.8), ("b", 0.6)):
            for _ in range(200):
                n += 1
                policy.ledger.record(f"d{n}", place, route, 0)
                converted = rng.random() < rate
                kind = OutcomeKind.CONVERTED if converted else OutcomeKind.NOT_CONVERTED
                policy.ledger.observe(Outcome(f"d{n}", kind, 1_000))
    small = Context("C0", "Small", "otp")
    for route in ("a", "b"):  # three of its own on each route, all failed
        for _ in range(3):
            n += 1
            policy.ledger.record(f"d{n}", small, route, 0)
            policy.ledger.observe(Outcome(f"d{n}", OutcomeKind.NOT_CONVERTED, 1_000))
    candidates = [Candidate("a", 0.01), Candidate("b", 0.01)]
    shares = policy.probabilities(small, candidates, NOW)
    # only the uniform floor explores b (without pooling, its optimism took 4 % more)
    assert shares["b"] <= policy.explore / 2 + 1e-9
    estimates = policy.current(small, candidates, NOW)
    assert [e.borrowed > 50 for e in estimates] == [True, True]


def test_the_spread_is_read_once_a_period_and_a_report_leaves_it_alone() -> None:
    """Read over every destination, the spread is read by a period's first decision and kept
    for the period (``REREAD_MS``); an operator's read (inside ``provisional``) at another time
    changes nothing a decision then reads, and a checkpoint keeps what was read."""
    places = _networks(12)

    def ledger_at_period_start() -> Ledger:
        ledger = Ledger(tau_s=None)
        _fill(ledger, dict.fromkeys(places, 0.8), 300)
        return ledger

    period_start = (NOW // REREAD_MS) * REREAD_MS
    read, reported = ledger_at_period_start(), ledger_at_period_start()
    first = read.pool_strength(places[0], "a", period_start)
    assert first == reported.pool_strength(places[0], "a", period_start)
    # destinations that now differ: the spread changes, the period's read does not
    for ledger in (read, reported):
        _fill(ledger, {p: 0.3 + 0.6 * (i % 2) for i, p in enumerate(places)}, 300, seed=2)
    with reported.provisional(period_start + 3 * REREAD_MS):  # a report, later
        later = reported.pool_strength(places[0], "a", period_start + 3 * REREAD_MS)
    with reported.provisional(period_start - REREAD_MS):  # and one of an earlier moment
        reported.pool_strength(places[0], "a", period_start - REREAD_MS)
    assert later is not None
    assert first is not None
    assert later < first  # what a read then sees: the destinations now differ
    kept = copy.deepcopy(read)  # its state, as a checkpoint keeps it (mid-period)
    for ledger in (read, reported, kept):
        assert ledger.pool_strength(places[0], "a", period_start + REREAD_MS - 1) == first
        assert ledger.pool_strength(places[0], "a", period_start + REREAD_MS) == later
