"""Change points (``routing/changes.py``): the GLR test on a route's history by slice of send
time, the history the ledger keeps for it, and the default policy's local restarts."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.base import Basis
from convroute.routing.changes import History, Row, Slice, bernoulli_kl, change_point
from convroute.routing.convroute_policy import ConvroutePolicy
from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

CTX = Context("GB", None, "otp")
SLICE = 10_000


Rows = list[Row]


def _rows(rates: list[float], per_slice: int, rng: random.Random) -> Rows:
    """One slice per rate: ``per_slice`` settled decisions converting at that rate."""
    return [
        Row(i * SLICE, float(per_slice), float(sum(rng.random() < r for _ in range(per_slice))))
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
        Row(0.0, 0.95, 1.0),
        Row(20_000.0, 1.89, 1.0),
        Row(40_000.0, 0.91, 1.0),
        Row(70_000.0, 0.81, 0.0),
        Row(90_000.0, 1.87, 3.0),
        Row(100_000.0, 0.48, 1.0),
        Row(110_000.0, 0.03, 0.0),
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
    # the exposure is taken at the slice's decisions' mean age (19 s and 8 s here)
    delay = ConversionDelay(20.0, 1.0, 300.0)
    rows = history.rows(key, 0, 20_000, delay)
    assert rows == [
        Row(0, delay.exposure_at(19_000), 0.0),
        Row(SLICE, delay.exposure_at(8_000), 0.0),
    ]
    # a slice that ended a window ago has exposure 1
    short = ConversionDelay(1.0, 1.0, 5.0)
    assert [r.exposure for r in history.rows(key, 0, 20_000, short)] == [
        1.0,
        short.exposure_at(8_000),
    ]
    # slices past the horizon are dropped
    assert [r.start for r in history.rows(key, 0, 75_000, delay)] == [SLICE]


def _reference_rows(
    history: History, key: tuple[Context, str], start_ms: float, now_ms: int, delay: ConversionDelay
) -> Rows:
    """``History.rows`` built from its slices alone, every call."""
    width = history.slice_ms
    oldest = int((now_ms - history.horizon_ms) // width)
    settled = (now_ms - delay.window_s * 1000.0) // width - 1
    out = []
    for index, cell in sorted(history.slices.get(key, {}).items()):
        if index < max(oldest, int(start_ms // width)) or cell.sent <= 0.5:
            continue
        if index <= settled:
            out.append(Row(index * width, cell.sent, cell.converted))
        else:
            age = now_ms - (index * width + cell.offset_ms / cell.sent)
            out.append(Row(index * width, cell.sent * delay.exposure_at(age), cell.converted))
    return out


_steps = st.lists(
    st.tuples(
        st.sampled_from(["send", "late send", "convert", "cancel", "read"]),
        st.integers(0, 40_000),  # time forward (ms)
        st.integers(0, 10**6),  # which decision, how late, where from
    ),
    max_size=120,
)


@settings(max_examples=80, deadline=None)
@given(steps=_steps)
def test_the_history_keeps_settled_rows_that_are_those_built_afresh(
    steps: list[tuple[str, int, int]],
) -> None:
    """Late outcomes and late decisions in settled slices, the horizon moving past them: every
    read equals the rows built from the slices anew."""
    history = History(SLICE, 120_000)
    delay = ConversionDelay(5.0, 1.0, 30.0)
    key = (CTX, "a")
    now = 0
    sent: list[tuple[object, int, bool]] = []  # (slice, sent at, converted)
    for kind, forward, pick in steps:
        now += forward
        if kind in ("send", "late send"):
            at = now - (pick % 200_000 if kind == "late send" else 0)
            sent.append((history.add(key, max(0, at)), max(0, at), False))
        elif kind in ("convert", "cancel") and sent:
            i = pick % len(sent)
            cell, at, converted = sent.pop(i)
            assert isinstance(cell, Slice)
            if kind == "convert" and not converted:
                history.convert(cell)
                sent.append((cell, at, True))
            elif kind == "cancel":
                history.remove(cell, at, converted)
        start = float(pick % 150_000) - 10_000.0
        assert history.rows(key, start, now, delay) == _reference_rows(
            history, key, start, now, delay
        )


def test_a_decision_recorded_late_into_a_settled_slice_is_read() -> None:
    history = History(SLICE, 3_600_000)
    delay = ConversionDelay(5.0, 1.0, 30.0)
    key = (CTX, "a")
    history.add(key, 0)
    history.add(key, 25_000)
    assert [r.start for r in history.rows(key, 0, 100_000, delay)] == [0, 2 * SLICE]
    late = history.add(key, 35_000)  # a slice the settled rows had passed, empty until now
    history.convert(late)
    assert history.rows(key, 0, 100_000, delay) == [
        Row(0, 1.0, 0.0),
        Row(2 * SLICE, 1.0, 0.0),
        Row(3 * SLICE, 1.0, 1.0),
    ]


def _reference_change_point(rows: Rows, delta: float) -> float | None:
    """The GLR test with every split's statistic taken."""
    total = sum(r.exposure for r in rows)
    converted = sum(r.converted for r in rows)
    if total < 2.0:
        return None
    p = (converted + 0.5) / (total + 1.0)
    n1 = c1 = 0.0
    best, split = 0.0, None
    for i in range(len(rows) - 1):
        n1, c1 = n1 + rows[i].exposure, c1 + rows[i].converted
        n2, c2 = total - n1, converted - c1
        if n2 < 1.0:
            break
        if n1 < 1.0:
            continue
        g = n1 * bernoulli_kl((c1 + 0.5) / (n1 + 1.0), p) + n2 * bernoulli_kl(
            (c2 + 0.5) / (n2 + 1.0), p
        )
        if g > best:
            best, split = g, rows[i + 1].start
    return split if best > math.log(total**1.5 / delta) else None


@settings(max_examples=200, deadline=None)
@given(
    rates=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    per_slice=st.integers(1, 60),
    young=st.lists(st.tuples(st.floats(0.05, 1.0), st.integers(0, 5)), max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_bound_skips_only_splits_that_cannot_win(
    rates: list[float], per_slice: int, young: list[tuple[float, int]], seed: int
) -> None:
    """Skipping the splits whose chi-square bound beats neither the threshold nor the best so
    far gives the test's answer with every split taken (young slices included, whose
    conversions can outnumber their exposure)."""
    rows = _rows(rates, per_slice, random.Random(seed))
    rows += [Row((len(rates) + i) * SLICE, e, float(c)) for i, (e, c) in enumerate(young)]
    assert change_point(rows, 0.001) == _reference_change_point(rows, 0.001)


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
        assert sum(r.exposure for r in first) > 0


def test_the_history_is_kept_only_from_the_first_decision() -> None:
    ledger = Ledger()
    ledger.record("d0", CTX, "a", 0)
    with pytest.raises(ValueError, match="before the first decision"):
        ledger.keep_history()


def _drive(
    policy: ConvroutePolicy, rates: dict[str, float], start: int, steps: int, seed: int
) -> None:
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
    policy = ConvroutePolicy(Ledger(at_once, also_tau_s=(200.0,)))
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
    policy = ConvroutePolicy(Ledger(also_tau_s=(200.0,)), delta=None)
    assert policy.ledger.history is None
