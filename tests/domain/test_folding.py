"""The current-status fold: order-independent, and the rules of DESIGN 2.1."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from convroute.domain.folding import StatusEvent, current_status, supersedes
from convroute.domain.statuses import ConversionStatus, EventSource

C, W = EventSource.CLIENT, EventSource.WINDOW
S = ConversionStatus


def ev(i: str, status: ConversionStatus, source: EventSource, at: int, rx: int = 0) -> StatusEvent:
    return StatusEvent(i, status, source, at, rx or at)


events = st.builds(
    StatusEvent,
    st.uuids().map(str),
    st.sampled_from(list(ConversionStatus)),
    st.sampled_from(list(EventSource)),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)


@given(st.lists(events, max_size=12), st.randoms())
def test_fold_is_order_independent(evs: list[StatusEvent], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = evs[:]
    rnd.shuffle(shuffled)
    assert current_status(evs) == current_status(shuffled)


@given(st.lists(events, max_size=12))
def test_incremental_fold_equals_batch_fold(evs: list[StatusEvent]) -> None:
    current = None
    for e in evs:
        if supersedes(e, current):
            current = e
    assert current == current_status(evs)


def test_latest_client_report_wins() -> None:
    a = ev("a", S.NOT_CONVERTED, C, 100)
    b = ev("b", S.CONVERTED, C, 200)
    assert current_status([b, a]) == b


def test_late_report_corrects_the_window_close() -> None:
    window = ev("w", S.NOT_CONVERTED, W, 600_000, rx=600_001)
    late = ev("c", S.CONVERTED, C, 300_000, rx=900_000)  # converted in time, reported late
    assert current_status([window, late]) == late


def test_window_outranks_a_temporary_status() -> None:
    wrong = ev("i", S.INCORRECT_CODE, C, 100)
    window = ev("w", S.NOT_CONVERTED, W, 600)
    assert current_status([wrong, window]) == window


def test_temporary_status_does_not_reopen_a_final_one() -> None:
    done = ev("c", S.CONVERTED, C, 100)
    wrong = ev("i", S.INCORRECT_CODE, C, 200)
    assert current_status([done, wrong]) == done


def test_ties_go_to_the_latest_received() -> None:
    first = ev("a", S.NOT_CONVERTED, C, 100, rx=150)
    second = ev("b", S.CONVERTED, C, 100, rx=160)
    assert current_status([second, first]) == second


def test_status_table() -> None:
    assert {s for s in S if not s.is_final} == {S.INCORRECT_CODE}
    assert S.CONVERTED.reward == 1
    assert S.CONVERTED_OTHER.reward == 0
    assert S.RESENT.reward == 0
    assert S.CANCELED.reward is None
