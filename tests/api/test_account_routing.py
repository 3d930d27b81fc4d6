"""Each account's own routing through the app (issue 22): ``/api/v1/account/routing`` with the
account's token, the operator's ``PATCH /api/v1/accounts/{account}``, the sends that keep to
it, and the quality report as an account's messages get it; on every backend."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from convroute.domain.models import AccountRouting
from tests.api.conftest import ADMIN, Api
from tests.conftest import add_route

PATH = "/api/v1/account/routing"
DEFAULT = {"goal": None, "lambda": None, "epsilon": None, "allow_routes": [], "forbid_routes": []}


def _admin(api: Api) -> dict[str, str]:
    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    return {"Authorization": f"Bearer {ADMIN}"}


def _routing(api: Api, who: Any = None) -> dict[str, Any]:
    r = api.client.get(PATH, headers=api.auth(who))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_an_account_sets_its_routing_and_another_is_untouched(api_any: Api) -> None:
    api = api_any
    add_route(api.container, "premium", 0.10)
    assert _routing(api) == DEFAULT
    body = {"goal": "value", "lambda": 5, "forbid_routes": ["premium"]}
    r = api.client.put(PATH, json=body, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "goal": "value",
        "lambda": 5.0,
        "epsilon": 0.02,
        "allow_routes": [],
        "forbid_routes": ["premium"],
    }
    assert _routing(api) == r.json()  # durable: read back from the store
    assert _routing(api, api.other) == DEFAULT
    # back to the installation's
    r = api.client.put(PATH, json={}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json() == DEFAULT


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"goal": "best"}, "goal"),
        ({"goal": "value"}, "lambda"),  # value needs its lambda
        ({"goal": "value", "lambda": -1}, "lambda"),
        ({"goal": "cheapest-within", "epsilon": 2}, "epsilon"),
        ({"lambda": 3}, "lambda"),  # no goal: the installation's objective has its own
        ({"allow_routes": ["nowhere"]}, "allow_routes"),
        ({"allow_routes": ["cheap"], "forbid_routes": ["cheap"]}, "forbid_routes"),
        ({"forbid_routes": ["x"] * 101}, "forbid_routes"),
        ({"goal": "value", "lambda": "5"}, None),  # a string is no number
        ({"favourite": "cheap"}, None),
        ([], None),
    ],
)
def test_bad_routing_is_refused_and_changes_nothing(api: Api, body: Any, field: str | None) -> None:
    before = api.client.put(PATH, json={"goal": "conversions"}, headers=api.auth()).json()
    r = api.client.put(PATH, json=body, headers=api.auth())
    assert r.status_code == 422, r.text
    if field is not None:
        assert field in r.json()["error"]["details"], r.json()
    assert _routing(api) == before


def test_routing_needs_the_account_token(api: Api) -> None:
    assert api.client.get(PATH).status_code == 401
    r = api.client.put(
        PATH, json={"goal": "value", "lambda": 1}, headers={"Authorization": "Bearer x"}
    )
    assert r.status_code == 401
    assert _routing(api) == DEFAULT


def test_sends_keep_to_the_routes_the_account_allows(api_any: Api) -> None:
    api = api_any
    add_route(api.container, "premium", 0.10)
    r = api.client.put(PATH, json={"forbid_routes": ["cheap"]}, headers=api.auth())
    assert r.status_code == 200, r.text
    routes = set()
    for _ in range(20):
        sent = api.client.post(
            "/api/v1/messages",
            json={"src": "Acme", "dst": "+14155552671", "text": "code 1"},
            headers=api.auth(),
        )
        assert sent.status_code == 201, sent.text
        routes.add(sent.json()["route"]["name"])
    assert routes == {"premium"}
    # the other account's sends are not restricted
    other = api.client.post(
        "/api/v1/messages",
        json={"src": "Other", "dst": "+14155552671", "text": "code 1"},
        headers=api.auth(api.other),
    )
    assert other.status_code == 201, other.text
    # allowing only a route that does not serve the destination: no route, nothing stored
    add_route(api.container, "france", 0.01, country="FR")
    api.client.put(PATH, json={"allow_routes": ["france"]}, headers=api.auth())
    before = api.counts()
    refused = api.client.post(
        "/api/v1/messages",
        json={"src": "Acme", "dst": "+14155552671", "text": "code 1"},
        headers=api.auth(),
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert "allows" in refused.text
    assert api.counts() == before


def test_the_operator_sets_and_resets_an_account_routing(api_any: Api) -> None:
    api = api_any
    headers = _admin(api)
    url = f"/api/v1/accounts/{api.acme.account.name}"
    r = api.client.patch(
        url, json={"routing": {"goal": "cheapest-within", "epsilon": 0.05}}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["routing"]["goal"] == "cheapest-within"
    assert _routing(api)["epsilon"] == 0.05  # the account sees it at once
    # a bad routing with a good rate: refused whole
    bad = {"rate_limit_per_second": 5, "routing": {"goal": "value"}}
    assert api.client.patch(url, json=bad, headers=headers).status_code == 422
    shown = api.client.get(url, headers=headers).json()
    assert shown["rate_limit_per_second"] is None
    assert shown["routing"]["goal"] == "cheapest-within"
    r = api.client.patch(url, json={"routing": None}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["routing"] == DEFAULT
    stored = api.container.store.account_by_name(api.acme.account.name)
    assert stored is not None
    assert stored.routing == AccountRouting()


def test_the_quality_report_as_an_account_gets_it(api_any: Api) -> None:
    api = api_any
    headers = _admin(api)
    premium = add_route(api.container, "premium", 0.10)
    api.container.store.set_routing(
        api.other.account.id, AccountRouting(goal="value", lam=50.0, forbid=(premium.id,)), 0
    )
    r = api.client.get(
        "/api/v1/routes/quality",
        params={"country": "US", "account": api.other.account.name},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["account"] == "other"
    assert report["routing"]["forbid_routes"] == ["premium"]
    assert [x["name"] for x in report["routes"]] == ["cheap"]
    assert report["routes"][0]["value"] == pytest.approx(report["routes"][0]["estimate"] - 1.0)
    everyone = api.client.get(
        "/api/v1/routes/quality", params={"country": "US"}, headers=headers
    ).json()
    assert everyone["account"] is None
    assert {x["name"] for x in everyone["routes"]} == {"cheap", "premium"}
    missing = api.client.get(
        "/api/v1/routes/quality", params={"country": "US", "account": "nobody"}, headers=headers
    )
    assert missing.status_code == 422


def test_sends_of_two_accounts_in_one_batch_keep_to_their_own_routing(api_any: Api) -> None:
    """The accounts' sends share one group commit (the writer is held while they queue): each
    is routed under its own account's restrictions, none under the other's."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.api.test_isolation_batched import writer_held

    api = api_any
    add_route(api.container, "premium", 0.10)
    api.client.put(PATH, json={"forbid_routes": ["cheap"]}, headers=api.auth())
    api.client.put(PATH, json={"allow_routes": ["cheap"]}, headers=api.auth(api.other))

    def send(who: Any) -> str:
        r = api.client.post(
            "/api/v1/messages",
            json={"src": "Acme", "dst": "+14155552671", "text": "code 1"},
            headers=api.auth(who),
        )
        assert r.status_code == 201, r.text
        name: str = r.json()["route"]["name"]
        return name

    accounts = [api.acme, api.other] * 10
    api.container.committer.largest_batch = 0
    with ThreadPoolExecutor(len(accounts)) as pool:
        with writer_held(api.container) as wait_queued:
            futures = [pool.submit(send, who) for who in accounts]
            wait_queued(len(accounts))
        routes = [f.result(30) for f in futures]
    largest = api.container.committer.largest_batch
    assert largest >= len(accounts)  # they did share a batch
    assert routes == ["premium", "cheap"] * 10
