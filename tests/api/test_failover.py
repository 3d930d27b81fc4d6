"""Failover on refusal: a message its route refuses goes out at once over the next route that
serves the destination, as a new logged decision with its probability and the reason, never
back to a route that refused it; the refused decision learns the failure."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from convroute.domain.models import RouteDestination
from convroute.routing.policy import Candidate, Context
from convroute.services.routes import new_route
from tests.api.conftest import Api
from tests.api.test_connectors import Stub, outbox_size, wait_for


@pytest.fixture
def stubs() -> Iterator[tuple[Stub, Stub, Stub]]:
    made = (Stub(), Stub(), Stub())
    yield made
    for s in made:
        s.close()


def routes(api: Api, *urls: str) -> list[str]:
    api.disable_routes()
    ids = []
    for i, url in enumerate(urls):
        route = new_route(
            f"r{i}", [RouteDestination("*", 0.01 * (i + 1))], api.container.clock(), "http",
            {"url": url},
        )  # fmt: skip
        api.container.store.add_route(route)
        ids.append(route.id)
    return ids


def refs(stub: Stub) -> list[str]:
    return [json.loads(r["body"])["reference"] for r in stub.requests]


def test_a_route_that_refuses_everything_delivers_nothing_and_every_message_still_goes_out(
    api: Api, stubs: tuple[Stub, Stub, Stub]
) -> None:
    bad, good, _ = stubs
    bad.status = 400
    bad_id, good_id = routes(api, bad.url, good.url)
    sent = [api.send(dst="+447700900123", text=f"code {i}") for i in range(30)]
    wait_for(lambda: len(refs(good)) == len(sent), seconds=10)
    assert sorted(refs(good)) == sorted(sent)  # every message reached the user, once
    assert bad.requests, "the refusing route was tried (it is the cheaper one)"
    dispatcher = api.container.dispatcher
    assert dispatcher.failovers == len(bad.requests)
    assert dispatcher.failed == 0
    wait_for(lambda: outbox_size(api) == 0)
    for mid in sent:
        view = api.view(mid)
        assert view["route"]["id"] == good_id
        assert view["dlrs"] == []  # no route said failed: the refusal is a decision's outcome
        attempts = view["routing"]
        assert [a["route"]["id"] for a in attempts][-1] == good_id
        assert all(a["route"]["id"] != bad_id for a in attempts[1:])  # never back to it
        if len(attempts) == 2:
            first, second = attempts
            assert (first["attempt"], second["attempt"]) == (0, 1)
            assert second["reason"].startswith("failover: r0 refused it (http_400")
            assert 0 < second["probability"] <= 1


def test_the_refused_decision_learns_the_failure(api: Api, stubs: tuple[Stub, Stub, Stub]) -> None:
    """Every message converts once it reaches the user: the route that refused its share is
    learned as converting nothing, the one that carried them as converting."""
    bad, good, _ = stubs
    bad.status = 400
    bad_id, good_id = routes(api, bad.url, good.url)
    sent = [api.send(dst="+447700900123", text=f"code {i}") for i in range(20)]
    wait_for(lambda: len(refs(good)) == 20, seconds=10)
    for mid in sent:
        r = api.client.post(
            f"/api/v1/messages/{mid}/conversions", json={"status": "converted"},
            headers=api.auth(),
        )  # fmt: skip
        assert r.status_code == 201
    api.container.follower.catch_up()
    candidates = [Candidate(bad_id, 0.01), Candidate(good_id, 0.02)]
    _, (on_bad, on_good) = api.container.router.read(
        Context("GB", None, "otp"), candidates, api.container.clock()
    )
    refused = len(bad.requests)
    assert refused > 0
    assert on_good.mean > 0.7
    assert on_bad.mean < on_good.mean - 0.4  # (its prior keeps it above 0 on few refusals)
    assert on_bad.exposure == pytest.approx(refused, rel=0.05)  # each refusal settled, at once


def test_with_three_routes_a_message_refused_twice_takes_the_third(
    api: Api, stubs: tuple[Stub, Stub, Stub]
) -> None:
    a, b, c = stubs
    a.status = b.status = 400
    routes(api, a.url, b.url, c.url)
    sent = [api.send(dst="+447700900123", text=f"code {i}") for i in range(10)]
    wait_for(lambda: len(refs(c)) == 10, seconds=10)
    assert sorted(refs(c)) == sorted(sent)
    for mid in sent:
        tried = [x["route"]["name"] for x in api.view(mid)["routing"]]
        assert tried[-1] == "r2"
        assert len(set(tried)) == len(tried)  # each route once


def test_when_every_route_refuses_the_message_fails_once(
    api: Api, stubs: tuple[Stub, Stub, Stub]
) -> None:
    a, b, _ = stubs
    a.status = b.status = 400
    routes(api, a.url, b.url)
    mid = api.send(dst="+447700900123")
    dlrs = wait_for(lambda: api.view(mid)["dlrs"])
    assert [d["status"] for d in dlrs] == ["failed"]
    assert refs(a) + refs(b) == [mid, mid][: len(refs(a) + refs(b))]
    assert len(refs(a)) == len(refs(b)) == 1
    assert outbox_size(api) == 0
