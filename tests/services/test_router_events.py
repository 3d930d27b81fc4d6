"""The live router's share events: a route whose share of a destination moves past the
threshold and stays there is told once, with its facts; passing swings are not told."""

from __future__ import annotations

import time

import pytest

from convroute.bootstrap import live_router
from convroute.config import Settings
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.logs import route_events
from convroute.services.ports import LogBatch, LoggedConversion, LoggedDecision, LoggedDlr


def shares_told(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        r.msg for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "share_moved"
    ]  # fmt: skip


def test_a_lasting_move_is_told_once_and_a_steady_router_tells_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="convroute.events")
    route_events()
    router = live_router(Settings())
    now = int(time.time() * 1000) - 3_600_000
    for minute in range(60):  # a message a second; both convert, then "bad" stops at 20
        decisions, conversions, dlrs = [], [], []
        for second in range(60):
            at = now + (minute * 60 + second) * 1000
            route = "good" if second % 2 else "bad"  # (the log says where each went)
            mid = f"m{minute}-{second}"
            decisions.append(LoggedDecision(mid, route, "GB", "Three", MessageType.OTP,
                                            TrafficClass.TWO_FA, at))  # fmt: skip
            dlrs.append(LoggedDlr(mid, DlrStatus.DELIVERED, at + 3000))
            fails = route == "bad" and minute >= 20
            status = ConversionStatus.NOT_CONVERTED if fails else ConversionStatus.CONVERTED
            conversions.append(LoggedConversion(mid, status, at + 20_000))
        router.apply(LogBatch(decisions, conversions, dlrs))
        for look in range(6):  # the follower's periodic looks
            router.advance(now + minute * 60_000 + look * 10_000)
    told = shares_told(caplog)
    assert told, "the move to the converting route was not told"
    last = {e["route_id"]: e for e in told}  # (while both converted, the shares wandered)
    assert last["good"]["share_before"] < 0.5 < 0.8 < last["good"]["share_after"]  # type: ignore[operator]
    assert last["bad"]["share_after"] < 0.2  # type: ignore[operator]
    assert {e["country"] for e in told} == {"GB"}
    assert {e["network"] for e in told} == {"Three"}
    assert len(told) <= 6  # one move per route, and not every swing on the way
    caplog.clear()
    for look in range(30):  # nothing new: the shares stay where they are
        router.advance(now + 3_600_000 + look * 10_000)
    assert shares_told(caplog) == []
