"""The start-up replay looks at a destination when it has news (a send, a receipt, a
conversion) and at every destination every 30 check intervals: the router it builds routes
as one that looked at every destination every interval, and raises the same anomalies."""

from __future__ import annotations

import time

from benchmarks.startup import day_of_log

from convroute.bootstrap import live_router
from convroute.config import Settings
from convroute.routing.policy import Candidate, Context


def test_looking_at_news_builds_the_router_looking_at_everything_builds() -> None:
    now = int(time.time() * 1000)
    batch = day_of_log(0.5, 20, 3, now, seed=7, outage_ms=now - 1_800_000, hours=3)
    everything, news = live_router(Settings()), live_router(Settings())
    everything.replay(batch, full_every=1)
    news.replay(batch)
    for router in (everything, news):
        router.advance(now)
    countries = ["GB", "US", "FR", "DE", "IN", "BR", "ID", "NG", "MX", "PH"] * 2
    contexts = {Context(country, f"net-{i}", "otp") for i, country in enumerate(countries)}
    candidates = [Candidate(f"route-{i}", 0.01) for i in range(3)]
    compared = 0
    for context in contexts:
        a, b = (r.read(context, candidates, now)[1] for r in (everything, news))
        for x, y in zip(a, b, strict=True):
            assert abs(x.mean - y.mean) < 0.02, (context, x, y)
            assert abs(x.exposure - y.exposure) <= 0.02 * max(1.0, x.exposure)
            compared += 1
    assert compared >= 40

    def raised(router: object) -> set[tuple[str, str, str | None]]:
        watch = router.watch  # type: ignore[attr-defined]
        return {(a.kind, a.context.network, a.route_id) for a in watch.episodes()}

    assert raised(news) == raised(everything)
    assert any(kind == "conversion_drop" for kind, _, _ in raised(news))
