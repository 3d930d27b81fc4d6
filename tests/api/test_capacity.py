"""Throughput caps through the app: the excess over a capped route's rate goes to the next
route (logged with the reason), and a lone capped route's submits are paced to its cap."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from convroute.domain.models import RouteDestination
from convroute.services.routes import new_route
from tests.api.conftest import ADMIN, Api
from tests.api.test_connectors import Stub, wait_for


@pytest.fixture
def stubs() -> Iterator[tuple[Stub, Stub]]:
    a, b = Stub(), Stub()
    yield a, b
    a.close()
    b.close()


def add(api: Api, name: str, url: str, price: float, **config: object) -> str:
    route = new_route(
        name, [RouteDestination("*", price)], api.container.clock(), "http", {"url": url, **config}
    )
    api.container.store.add_route(route)
    return route.id


def test_the_excess_over_a_routes_cap_goes_to_the_next_route(
    admin: Api, stubs: tuple[Stub, Stub]
) -> None:
    api = admin
    capped, spare = stubs
    api.disable_routes()
    capped_id = add(api, "capped", capped.url, 0.001, mps=2)
    add(api, "spare", spare.url, 0.05)
    started = time.monotonic()
    ids = [api.send(dst="+447700900123") for _ in range(30)]
    elapsed = time.monotonic() - started
    wait_for(lambda: len(capped.requests) + len(spare.requests) == 30, seconds=10)
    assert len(capped.requests) <= 2 + 2 * elapsed + 1  # its burst, then 2 a second
    assert len(spare.requests) >= 30 - (2 + 2 * elapsed + 1)
    reasons = [r["reason"] for m in ids for r in api.view(m)["routing"] if r["reason"]]
    assert reasons
    assert all(r == "at its cap: capped" for r in reasons)
    on_capped = [m for m in ids if api.view(m)["routing"][-1]["route"]["id"] == capped_id]
    assert len(on_capped) == len(capped.requests)
    quality = api.client.get(
        "/api/v1/routes/quality?country=GB", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    shown = {r["name"]: r for r in quality["routes"]}
    assert shown["capped"]["connection"] == {"state": "ready"}
    assert isinstance(shown["capped"]["at_cap"], bool)
    assert shown["spare"]["at_cap"] is False  # no cap


def test_a_lone_capped_route_is_paced_to_its_cap(api: Api, stubs: tuple[Stub, Stub]) -> None:
    only, _ = stubs
    api.disable_routes()
    add(api, "only", only.url, 0.01, mps=5)
    ids = [api.send(dst="+447700900123") for _ in range(15)]
    wait_for(lambda: len(only.requests) == 15, seconds=10)
    got = [only.requests[i]["at"] for i in range(15)]
    # 5 at once (its burst), then 5 a second: the last goes 2 s after the first, not sooner
    assert got[-1] - got[0] >= 1.8
    assert {json.loads(r["body"])["reference"] for r in only.requests} == set(ids)
    assert all(api.view(m)["dlrs"] == [] for m in ids)  # paced, never failed
