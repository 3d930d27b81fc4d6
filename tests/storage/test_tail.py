"""The tail's bookkeeping of high-water marks and gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from convroute.storage.tail import _Cursor


def test_gaps_are_remembered_filled_and_given_up() -> None:
    cursor = _Cursor()
    cursor.advance([1, 2, 3], now_ms=0, grace_ms=1000, floor=None)
    assert cursor.high == 3
    assert not cursor.gaps
    cursor.advance([4, 7], now_ms=10, grace_ms=1000, floor=None)
    assert cursor.high == 7
    assert set(cursor.gaps) == {5, 6}
    cursor.advance([5], now_ms=20, grace_ms=1000, floor=None)
    assert set(cursor.gaps) == {6}
    cursor.advance([], now_ms=2000, grace_ms=1000, floor=None)  # 6 was rolled back
    assert not cursor.gaps
    assert cursor.high == 7


def test_a_first_read_of_an_empty_window_starts_at_the_tables_top() -> None:
    cursor = _Cursor()
    cursor.advance([], now_ms=0, grace_ms=1000, floor=900)
    assert cursor.high == 900
    assert min(cursor.gaps) == 900 - 255  # the last few may be in flight


@given(st.lists(st.integers(min_value=1, max_value=300), unique=True, min_size=1))
def test_every_row_is_read_once_whatever_the_commit_order(order: list[int]) -> None:
    """Rows committed in any order, read after each commit: each read exactly once."""
    cursor = _Cursor()
    cursor.advance([], now_ms=0, grace_ms=10**9, floor=0)
    committed: set[int] = set()
    read: list[int] = []
    for seq in order:
        committed.add(seq)
        visible = [
            s
            for s in sorted(committed)
            if cursor.high is not None and (s > cursor.high or s in cursor.gaps)
        ]
        read += visible
        cursor.advance(visible, now_ms=1, grace_ms=10**9, floor=None)
    assert sorted(read) == sorted(order)
