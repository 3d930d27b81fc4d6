"""Offline policy evaluation through the app (``GET /api/v1/evaluations``) and the CLI, on
traffic logged by the service itself, on every backend."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from click.testing import CliRunner

from convroute.cli import main
from tests.api.conftest import ADMIN, Api
from tests.conftest import add_route

URL = "/api/v1/evaluations"


def _traffic(api: Api, n: int = 200) -> dict[str, int]:
    """``n`` sends; premium's users all convert, cheap's every other one; every message
    reported (converted or not), so every decision has its final status."""
    add_route(api.container, "premium", 0.10)
    routes: dict[str, int] = {}
    for i in range(n):
        sent = api.client.post(
            "/api/v1/messages",
            json={"src": "Acme", "dst": "+14155552671", "text": "code 1", "trackable": True},
            headers=api.auth(),
        ).json()
        name = sent["route"]["name"]
        routes[name] = routes.get(name, 0) + 1
        status = "converted" if name == "premium" or i % 2 else "not_converted"
        routes["converted"] = routes.get("converted", 0) + (status == "converted")
        r = api.client.post(
            f"/api/v1/messages/{sent['id']}/conversions", json={"status": status},
            headers=api.auth(),
        )  # fmt: skip
        assert r.status_code == 201, r.text
    return routes


def _admin(api: Api) -> dict[str, str]:
    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    return {"Authorization": f"Bearer {ADMIN}"}


def test_an_evaluation_of_the_logged_traffic(api_any: Api) -> None:
    api = api_any
    routes = _traffic(api)
    headers = _admin(api)
    r = api.client.get(URL, params={"policy": "static", "since": "1h"}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["decisions"] == 200
    assert body["logged_policies"] == ["convroute"]
    assert body["diagnostics"]["support_logged"] == 1.0  # every candidate's probability
    logged = body["conversions"]["logged_per_decision"]
    assert logged == pytest.approx(routes["converted"] / 200)
    # static takes the cheapest route, which the logging policy soon left: few decisions
    # tell of it, and the answer says not to trust it
    assert body["diagnostics"]["effective_sample_size"] < 500
    assert any("effective sample size" in w for w in body["warnings"])
    dr = body["conversions"]["doubly_robust"]
    assert dr["low"] <= dr["per_decision"] <= dr["high"]
    # the logging policy with a little more exploration, replayed on the logged decisions
    # alone: close to what was logged
    params = {"policy": "convroute", "setting": "explore=0.05", "since": "1h", "replay": "logged"}
    near = api.client.get(URL, params=params, headers=headers).json()
    assert near["settings"] == {"explore": 0.05}
    assert near["replay"] == "logged"
    assert near["conversions"]["doubly_robust"]["per_decision"] == pytest.approx(logged, abs=0.1)
    assert near["diagnostics"]["effective_sample_size"] > 100
    assert near["diagnostics"]["own_choices"] == 0.0
    # replayed coupled (the default), static learned from routes of its own choosing too
    assert body["replay"] == "coupled"
    assert body["diagnostics"]["own_choices"] > 0.0
    bad = api.client.get(
        URL, params={"policy": "static", "since": "1h", "replay": "x"}, headers=headers
    )
    assert bad.status_code == 422
    assert "replay" in bad.text
    # the same through the CLI
    url = str(api.container.settings.database_url)
    out = CliRunner().invoke(
        main,
        ["evaluate", "--policy", "static", "--since", "1h", "--json", "--database-url", url],
        env={"CONVROUTE_SECRET_KEY": str(api.container.settings.secret_key)},
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["conversions"] == body["conversions"]
    text = CliRunner().invoke(
        main,
        ["evaluate", "--policy", "static", "--since", "1h", "--database-url", url],
        env={"CONVROUTE_SECRET_KEY": str(api.container.settings.secret_key)},
    )
    assert text.exit_code == 0, text.output
    own = body["diagnostics"]["own_choices"]
    assert f"the candidate learned from a route of its own at {own:.1%}" in text.output
    logged_only = CliRunner().invoke(
        main,
        ["evaluate", "--policy", "static", "--since", "1h", "--replay", "logged",
         "--database-url", url],
        env={"CONVROUTE_SECRET_KEY": str(api.container.settings.secret_key)},
    )  # fmt: skip
    assert logged_only.exit_code == 0, logged_only.output
    assert "a route of its own at 0.0%" in logged_only.output


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "policy"),
        ({"policy": "best"}, "policy"),
        ({"policy": "convroute", "setting": "explore=2"}, "setting"),
        ({"policy": "convroute", "setting": "speed=2"}, "setting"),
        ({"policy": "convroute", "setting": "explore"}, "setting"),
        ({"policy": "static", "since": "yesterday"}, "since"),
        ({"policy": "static", "since": "1h", "until": "2h"}, "until"),
        ({"policy": "static", "since": "40d"}, "since"),
        ({"policy": "static", "country": "Narnia"}, "country"),
        ({"policy": "static", "goal": "best"}, "goal"),
        ({"policy": "static", "color": "red"}, "color"),
        ({"policy": "static"}, "since"),  # nothing logged yet
    ],
)
def test_bad_questions_get_a_422_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    r = api.client.get(URL, params=params, headers=_admin(api))
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["details"]


def test_evaluations_are_the_operators(api: Api) -> None:
    assert api.client.get(URL, params={"policy": "static"}, headers=api.auth()).status_code in (
        401,
        403,
    )
