"""Reading the default policy changes nothing: a run whose state is read (``explain``,
``probabilities``) at arbitrary times, earlier and later than the next decision, decides bit
for bit as the same run never read. Time passes only in ``advance`` (sends, the periodic
look); before, a read dated after the next decision ran that decision's change tests early
(S2 regret 144 -> 311)."""

from __future__ import annotations

import random

import pytest
from benchmarks.fingerprint import digest_of
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.base import LedgerPolicy
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Candidate, Context, Decision, Outcome, OutcomeKind
from convroute.sim.run import make, simulate
from convroute.sim.scenario import load


class ReadAtRandomTimes:
    """The policy, with an operator reading it before every few decisions at a random time
    from an hour before to two hours after the decision."""

    def __init__(self, inner: LedgerPolicy, seed: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.rng = random.Random(seed)
        self.reads = 0

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        if self.rng.random() < 0.2:
            at = now_ms + self.rng.randint(-3_600_000, 7_200_000)
            self.inner.explain(context, candidates, at)
            self.inner.probabilities(context, candidates, at)
            self.reads += 1
        return self.inner.choose(decision_id, context, candidates, now_ms, rng)

    def observe(self, outcome: Outcome) -> None:
        self.inner.observe(outcome)

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        return self.inner.probabilities(context, candidates, now_ms)


@pytest.mark.parametrize(("name", "seed"), [("s2-outage", 3), ("s1-pb4", 3), ("s5-pumping", 1)])
def test_reads_at_any_time_change_no_decision(name: str, seed: int) -> None:
    scenario = load(f"scenarios/{name}.toml")
    plain = simulate(scenario, "convroute", seed)
    inner = make(scenario, "convroute", lambda: 0.0)
    assert isinstance(inner, LedgerPolicy)
    read = ReadAtRandomTimes(inner, seed)
    watched = simulate(scenario, read, seed)  # type: ignore[arg-type]
    assert read.reads > 100
    assert digest_of(watched) == digest_of(plain)


@given(
    sends=st.lists(
        st.tuples(st.integers(0, 900_000), st.sampled_from(["a", "b"]), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    later=st.integers(1, 2_000_000),
)
@settings(max_examples=60, deadline=None)
def test_a_provisional_read_equals_moving_ahead_and_changes_nothing(
    sends: list[tuple[int, str, bool]], later: int
) -> None:
    context = Context("GB")

    def built() -> tuple[Ledger, int]:
        ledger, t = Ledger(also_tau_s=(200.0,)), 0
        for i, (gap, route, converts) in enumerate(sorted(sends)):
            t = gap
            ledger.record(f"d{i}", context, route, t)
            if converts:
                ledger.observe(Outcome(f"d{i}", OutcomeKind.CONVERTED, t + 30_000))
            ledger.own_all(context, ["a", "b"], t)  # a decision's read: the ledger is at t
        return ledger, t

    (ledger, t), (moved, _) = built(), built()
    at = t + later
    with ledger.provisional(at):
        read = ledger.own_all(context, ["a", "b"], at)
    with ledger.provisional(at):
        assert ledger.own_all(context, ["a", "b"], at) == read  # the first read undid itself
    assert moved.own_all(context, ["a", "b"], at) == read  # to the last bit
    assert ledger.own_all(context, ["a", "b"], at) == read  # and now for real
