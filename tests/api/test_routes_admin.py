"""Routes CRUD and route quality over HTTP, with the operator's token."""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

import pytest

from convroute.domain.clock import parse_iso8601
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind
from tests.api.conftest import ADMIN, Api
from tests.scrape import value

H = {"Authorization": f"Bearer {ADMIN}"}


def new_route(api: Api, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "eu-premium",
        "destinations": [{"country": "GB", "price": 0.04}, {"country": "fr", "price": 0.05}],
    }
    payload.update(body)
    r = api.client.post("/api/v1/routes", json=payload, headers=H)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def test_routes_need_the_operator_token_not_an_accounts(admin: Api) -> None:
    for method, path in (
        ("get", "/api/v1/routes"),
        ("get", "/api/v1/routes/quality?country=GB"),
        ("get", "/api/v1/routes/cheap"),
        ("delete", "/api/v1/routes/cheap"),
    ):
        r = admin.client.request(method, path, headers=admin.auth())
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == "authentication_failed" or r.json()["error"]
        assert admin.client.request(method, path).status_code == 401
    r = admin.client.post("/api/v1/routes", json={"name": "x"}, headers=admin.auth())
    assert r.status_code == 401
    assert len(admin.container.store.routes()) == 1


def test_without_an_admin_token_configured_route_administration_is_off(api: Api) -> None:
    r = api.client.get("/api/v1/routes", headers=H)
    assert r.status_code == 403
    assert "CONVROUTE_ADMIN_TOKEN" in r.json()["error"]["message"]


def test_create_list_get_patch_delete(admin: Api) -> None:
    created = new_route(
        admin, connector="http", config={"basic_auth": "u:k-123", "url": "https://x.example"}
    )
    assert created["destinations"] == [
        {"country": "FR", "network": None, "price": 0.05},
        {"country": "GB", "network": None, "price": 0.04},
    ]
    assert created["config"] == {"basic_auth": "***", "url": "https://x.example"}  # masked
    names = [r["name"] for r in admin.client.get("/api/v1/routes", headers=H).json()["routes"]]
    assert names == ["cheap", "eu-premium"]
    by_id = admin.client.get(f"/api/v1/routes/{created['id']}", headers=H).json()
    assert by_id["name"] == "eu-premium"

    r = admin.client.patch(
        "/api/v1/routes/eu-premium",
        json={"enabled": False, "destinations": [{"country": "GB", "price": 0.03}]},
        headers=H,
    )
    assert r.status_code == 200, r.text
    route = admin.container.store.route("eu-premium")
    assert not route.enabled
    assert [(d.country, d.price) for d in route.destinations] == [("GB", 0.03)]
    assert route.config["basic_auth"] == "u:k-123"  # kept in full, only shown masked

    assert admin.client.delete("/api/v1/routes/eu-premium", headers=H).status_code == 204
    assert admin.client.get("/api/v1/routes/eu-premium", headers=H).status_code == 404


def test_a_route_that_carried_messages_is_disabled_not_deleted(admin: Api) -> None:
    admin.send()
    r = admin.client.delete("/api/v1/routes/cheap", headers=H)
    assert r.status_code == 409
    assert "disable" in r.json()["error"]["message"]
    assert admin.container.store.route("cheap").enabled


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name", "destinations": [{"country": "GB", "price": 1}]}, "name"),
        ({"name": "x", "destinations": []}, "destinations"),
        ({"name": "x", "destinations": [{"country": "XX", "price": 1}]}, "destinations"),
        ({"name": "x", "destinations": [{"country": "GB", "price": -1}]}, "destinations"),
        ({"name": "x", "destinations": [{"country": "GB", "price": 1e9}]}, "destinations"),
        (
            {"name": "x", "destinations": [{"country": "GB", "price": 1}] * 2},
            "destinations",
        ),
        (
            {
                "name": "x",
                "destinations": [{"country": "GB", "price": 1}],
                "connector": "carrier-pigeon",
            },
            "connector",
        ),
        ({"name": "x", "destinations": [{"country": "GB", "price": 1}], "colour": "red"}, "colour"),
        (
            {"name": "x", "destinations": [{"country": "GB", "price": 1}], "connector": "http"},
            "config.url",
        ),
        (
            {
                "name": "x",
                "destinations": [{"country": "GB", "price": 1}],
                "connector": "http",
                "config": {"url": "https://p.example", "fields": {"to": "{phone}"}},
            },
            "config.fields.to",
        ),
        (
            {
                "name": "x",
                "destinations": [{"country": "GB", "price": 1}],
                "config": {"scenario": "no/such/file.toml"},
            },
            "config.scenario",
        ),
        ({"name": "x"}, "destinations"),
    ],
)
def test_invalid_routes_are_refused_and_change_nothing(
    admin: Api, body: dict[str, Any], field: str
) -> None:
    r = admin.client.post("/api/v1/routes", json=body, headers=H)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["details"]
    assert [x.name for x in admin.container.store.routes()] == ["cheap"]


def test_a_taken_name_conflicts(admin: Api) -> None:
    new_route(admin)
    r = admin.client.post(
        "/api/v1/routes",
        json={"name": "eu-premium", "destinations": [{"country": "GB", "price": 1}]},
        headers=H,
    )
    assert r.status_code == 409


def test_quality_shows_every_candidate_with_its_share_estimate_and_reason(admin: Api) -> None:
    new_route(admin, name="gb-only", destinations=[{"country": "GB", "price": 0.01}])
    ids = [admin.send(dst="+447400123456") for _ in range(5)]
    admin.container.follower.catch_up()
    r = admin.client.get("/api/v1/routes/quality?country=GB&type=otp", headers=H)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["context"] == {"country": "GB", "network": None, "traffic": "otp"}
    assert doc["policy"] == "convroute"
    assert {x["name"] for x in doc["routes"]} == {"cheap", "gb-only"}
    assert sum(x["share"] for x in doc["routes"]) == pytest.approx(1.0)
    assert all(x["reason"] for x in doc["routes"])
    assert sum(x["recent"]["5m"]["sent"] for x in doc["routes"]) == len(ids)
    assert doc["networks_seen"]  # the numbers' network: ask for it to see its routing
    by_network = admin.client.get(
        "/api/v1/routes/quality",
        params={"country": "GB", "network": doc["networks_seen"][0]},
        headers=H,
    ).json()
    assert sum(x["evidence"] for x in by_network["routes"]) > 0
    assert sum(x["evidence"] for x in doc["routes"]) >= 0.0
    # a US destination has one candidate: the gb-only route does not serve it
    us = admin.client.get("/api/v1/routes/quality?country=US", headers=H).json()
    assert [x["name"] for x in us["routes"]] == ["cheap"]
    assert us["routes"][0]["share"] == 1.0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "country"),
        ("country=ZZZ", "country"),
        ("country=GB&type=sms", "type"),
        ("country=GB&traffic_class=x", "traffic_class"),
        ("country=GB&colour=1", "colour"),
    ],
)
def test_quality_validates_its_query(admin: Api, query: str, field: str) -> None:
    r = admin.client.get(f"/api/v1/routes/quality?{query}", headers=H)
    assert r.status_code == 422
    assert field in r.json()["error"]["details"]


def _feed(
    admin: Api,
    rates: dict[str, float],
    shares: tuple[float, ...],
    pumped_from: int | None,
    *,
    fails: tuple[str, int] | None = None,
    silent: str | None = None,
) -> int:
    """40 minutes of GB traffic, one message a second up to now, recorded in the service's
    router as its log follower would: routes drawn by ``shares``, conversions at ``rates``
    (halved for every route from second ``pumped_from``: pumping; 0 for one route from a
    second: ``fails``) after a log-normal delay, every receipt "delivered" (none from the
    ``silent`` route); the policy and the anomaly watch look every 10 s, as sends would make
    them. The first second (ms)."""
    routes = list(rates)
    router = admin.container.router
    policy, watch = router.policy, router.watch
    assert watch is not None
    context, candidates = Context("GB", None, "otp"), [Candidate(r, 0.01) for r in routes]
    rng = random.Random(3)
    seconds = 2400
    start = admin.container.clock() - seconds * 1000
    due: list[tuple[int, int, Outcome]] = []
    for t in range(seconds):
        now = start + t * 1000
        while due and due[0][0] <= now:
            policy.observe(heapq.heappop(due)[2])
        route = rng.choices(routes, shares)[0]
        policy.record(f"m{t}", context, route, now)
        pumped = pumped_from is not None and t >= pumped_from
        rate = rates[route] * (0.5 if pumped else 1.0)
        if fails is not None and route == fails[0] and t >= fails[1]:
            rate = 0.0
        at = now + int(min(299.0, math.exp(math.log(20) + rng.gauss(0, 1))) * 1000)
        kind = OutcomeKind.CONVERTED if rng.random() < rate else OutcomeKind.NOT_CONVERTED
        at = at if kind is OutcomeKind.CONVERTED else now + 300_000
        heapq.heappush(due, (at, t, Outcome(f"m{t}", kind, at)))
        if route != silent:
            receipt = Outcome(f"m{t}", OutcomeKind.DLR_DELIVERED, now + 5000)
            heapq.heappush(due, (now + 5000, t, receipt))
        if t % 10 == 0:
            policy.advance(context, candidates, now)
            watch.tick(context, routes, now)
    return start


def test_quality_lists_the_pumping_episode_the_router_raised(admin: Api) -> None:
    """Traffic on three GB routes whose conversions all fall by half while every receipt
    still says delivered: the router's watch raises pumping, and the quality report (and so
    the operator) sees it, in progress; another destination's report shows none."""
    for name in ("gb-b", "gb-c"):
        new_route(admin, name=name, destinations=[{"country": "GB", "price": 0.01}])
    ids = {r.name: r.id for r in admin.container.store.routes()}
    rates = {ids["cheap"]: 0.88, ids["gb-b"]: 0.84, ids["gb-c"]: 0.80}
    pumped_from = 1500
    start = _feed(admin, rates, (0.9, 0.05, 0.05), pumped_from)
    doc = admin.client.get("/api/v1/routes/quality?country=GB", headers=H).json()
    [episode] = doc["anomalies"]
    assert episode["kind"] == "pumping"
    assert episode["active"] is True
    assert episode["cleared_at"] is None
    raised = parse_iso8601(episode["started_at"])
    assert start + pumped_from * 1000 <= raised <= start + (pumped_from + 600) * 1000
    assert 0.2 < episode["severity"] < 0.8
    assert all(r["receipts_diverge"] is None for r in doc["routes"])  # every route dips
    us = admin.client.get("/api/v1/routes/quality?country=US", headers=H).json()
    assert us["anomalies"] == []
    metrics = admin.client.get("/metrics").text  # counts only: which destination is above
    assert value(metrics, "convroute_routing_anomalies_raised_total", kind="pumping") == 1
    assert value(metrics, "convroute_routing_anomalies_active", kind="pumping") == 1


def test_quality_lists_one_route_s_drop_and_a_route_without_receipts(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """gb-b stops converting 25 minutes in while the others go on: its drop is raised
    within minutes and named, and no pumping; gb-c never sends a receipt: no_receipts. Both
    in progress, both counted in /metrics, each logged once as an event with its evidence;
    without the fall, no drop."""
    caplog.set_level("INFO", logger="convroute.events")
    for name in ("gb-b", "gb-c"):
        new_route(admin, name=name, destinations=[{"country": "GB", "price": 0.01}])
    ids = {r.name: r.id for r in admin.container.store.routes()}
    rates = {ids["cheap"]: 0.88, ids["gb-b"]: 0.84, ids["gb-c"]: 0.80}
    fell = 1500
    start = _feed(
        admin, rates, (0.4, 0.4, 0.2), None, fails=(ids["gb-b"], fell), silent=ids["gb-c"]
    )
    doc = admin.client.get("/api/v1/routes/quality?country=GB", headers=H).json()
    found = {(a["kind"], a["route"]): a for a in doc["anomalies"]}
    assert set(found) == {("conversion_drop", "gb-b"), ("no_receipts", "gb-c")}
    drop = found[("conversion_drop", "gb-b")]
    assert drop["active"] is True
    raised = parse_iso8601(drop["started_at"])
    assert start + fell * 1000 < raised <= start + (fell + 300) * 1000
    assert drop["evidence"]["rate_before"] > 0.75
    assert drop["evidence"]["rate_after"] < 0.3  # on the few messages it got since
    assert drop["severity"] > 0.65
    silent = found[("no_receipts", "gb-c")]
    assert silent["active"] is True
    assert silent["evidence"]["receipt_share"] == 0.0
    metrics = admin.client.get("/metrics").text
    for kind in ("conversion_drop", "no_receipts"):
        assert value(metrics, "convroute_routing_anomalies_raised_total", kind=kind) == 1
        assert value(metrics, "convroute_routing_anomalies_active", kind=kind) == 1
    assert value(metrics, "convroute_routing_anomalies_raised_total", kind="pumping") == 0
    admin.container.router.advance(admin.container.clock())  # a look (the follower's too)
    admin.container.router.advance(admin.container.clock() + 1)
    raised = [
        r.msg for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "anomaly_raised"
    ]  # fmt: skip
    assert sorted((e["kind"], e["route_id"]) for e in raised) == [
        ("conversion_drop", ids["gb-b"]),
        ("no_receipts", ids["gb-c"]),
    ]
    drop_event = next(e for e in raised if e["kind"] == "conversion_drop")
    assert drop_event["country"] == "GB"
    assert drop_event["evidence"]["rate_after"] < 0.3
    assert drop_event["level"] == "warning"


def test_steady_routes_raise_no_drop(admin: Api) -> None:
    for name in ("gb-b", "gb-c"):
        new_route(admin, name=name, destinations=[{"country": "GB", "price": 0.01}])
    ids = {r.name: r.id for r in admin.container.store.routes()}
    _feed(admin, {ids["cheap"]: 0.88, ids["gb-b"]: 0.84, ids["gb-c"]: 0.80}, (0.4, 0.4, 0.2), None)
    doc = admin.client.get("/api/v1/routes/quality?country=GB", headers=H).json()
    assert doc["anomalies"] == []


def test_quality_flags_a_route_whose_receipts_vouch_for_messages_nobody_converts_on(
    admin: Api,
) -> None:
    """gb-grey's receipts say delivered like the others', but its users convert at 8 %
    against 80-88 %: its receipts diverge; the honest routes' do not, and no pumping is
    raised (the dip is one route's)."""
    for name in ("gb-grey", "gb-c"):
        new_route(admin, name=name, destinations=[{"country": "GB", "price": 0.01}])
    ids = {r.name: r.id for r in admin.container.store.routes()}
    rates = {ids["cheap"]: 0.88, ids["gb-grey"]: 0.08, ids["gb-c"]: 0.80}
    _feed(admin, rates, (0.6, 0.3, 0.1), None)
    doc = admin.client.get("/api/v1/routes/quality?country=GB", headers=H).json()
    flagged = {r["name"]: r["receipts_diverge"] for r in doc["routes"]}
    assert flagged["cheap"] is None
    assert flagged["gb-c"] is None
    grey = flagged["gb-grey"]
    assert grey is not None
    assert grey["converted_if_delivered"] < 0.15
    assert grey["others_converted_if_delivered"] > 0.75
    # and an episode of it, in progress: no pumping (the dip is one route's), no drop (the
    # route converted little from the start)
    [episode] = doc["anomalies"]
    assert (episode["kind"], episode["route"], episode["active"]) == (
        "receipts_diverge",
        "gb-grey",
        True,
    )
    assert episode["evidence"]["converts_if_delivered"] < 0.15
    assert 0.8 < episode["severity"] < 1.0
