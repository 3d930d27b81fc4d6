"""The dashboard's JSON: the operator sees every account's traffic and the router's view; an
account sees its own traffic only, never another's nor the router's; bad input is a 4xx."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, Api

H = {"Authorization": f"Bearer {ADMIN}"}


def messages(doc: dict[str, object]) -> int:
    return sum(
        sum(r["series"]["messages"])
        for r in doc["routes"]
        if r["series"]  # type: ignore[attr-defined, index]
    )


def test_the_operator_sees_everyone_and_an_account_itself(admin: Api) -> None:
    for _ in range(3):
        admin.send(dst="+447700900123")
    admin.send(who=admin.other, dst="+447700900124")
    path = "/api/v1/dashboard/series?country=GB&hours=1&bucket_minutes=1"
    operator = admin.client.get(path, headers=H).json()
    assert operator["scope"] == "operator"
    assert messages(operator) == 4
    assert len(operator["times"]) == 60 or len(operator["times"]) == 61
    assert "anomalies" in operator
    assert operator["routes"][0]["router"]["share"] is not None
    mine = admin.client.get(path, headers=admin.auth()).json()
    assert mine["scope"] == "account"
    assert messages(mine) == 3
    assert "anomalies" not in mine
    assert all("router" not in r for r in mine["routes"])
    theirs = admin.client.get(path, headers=admin.auth(admin.other)).json()
    assert messages(theirs) == 1
    totals = admin.client.get("/api/v1/dashboard/totals?hours=1", headers=admin.auth()).json()
    (route,) = totals["by_route"]
    assert (route["name"], route["messages"]) == ("cheap", 3)
    assert totals["by_country"][0]["country"] == "GB"
    everyone = admin.client.get("/api/v1/dashboard/totals?hours=1", headers=H).json()
    assert everyone["by_route"][0]["messages"] == 4
    assert everyone["by_route"][0]["cost"] == pytest.approx(4 * 0.02)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422),
        ("country=ZZ", 422),
        ("country=GB&hours=0", 422),
        ("country=GB&hours=abc", 422),
        ("country=GB&hours=168&bucket_minutes=0.05", 422),
        ("country=GB&surprise=1", 422),
        ("country=GB&type=sms", 422),
    ],
)
def test_bad_queries_are_refused(admin: Api, query: str, status: int) -> None:
    r = admin.client.get(f"/api/v1/dashboard/series?{query}", headers=H)
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_the_page_and_its_assets_are_served_and_the_json_needs_a_token(admin: Api) -> None:
    page = admin.client.get("/dashboard")
    assert page.status_code == 200
    assert "uPlot.iife.min.js" in page.text
    lib = admin.client.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js")
    assert lib.status_code == 200
    assert len(lib.content) > 40_000
    assert admin.client.get("/static/dashboard.js").status_code == 200
    assert admin.client.get("/static/../config.py").status_code == 404
    assert admin.client.get("/api/v1/dashboard/series?country=GB").status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert admin.client.get("/api/v1/dashboard/totals", headers=wrong).status_code == 401
