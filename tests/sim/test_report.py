"""What ``convroute simulate`` prints of reactions: each one for a few changes of the best
route, a summary for many (one change per destination on a many-destination scenario)."""

from __future__ import annotations

from convroute.sim.report import LISTED_REACTIONS, reactions


def test_a_few_reactions_are_listed_each() -> None:
    assert reactions([120, None]) == "120 messages; never   (to each change of the best route)"


def test_many_reactions_are_summarised() -> None:
    found: list[int | None] = [10 * (i + 1) for i in range(9)] + [None] * 3  # 10 .. 90
    text = reactions(found)
    assert text == (
        "9 of 12 changes of the best route followed, in 50 messages "
        "(median; 90th percentile 90, slowest 90); never: 3"
    )
    assert "never;" not in text  # not one word per change
    assert len(found) > LISTED_REACTIONS


def test_many_changes_none_followed() -> None:
    assert reactions([None] * 10) == "0 of 10 changes of the best route followed"
