"""/metrics as Prometheus reads it, and the Grafana dashboard shipped over it."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import Container
from tests.api.conftest import Api
from tests.scrape import samples

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


def test_every_series_the_dashboard_plots_is_exposed(api: Api) -> None:
    message_id = api.send()
    r = api.client.post(
        f"/api/v1/messages/{message_id}/conversions", json={"status": "converted"},
        headers=api.auth(),
    )  # fmt: skip
    assert r.status_code == 201
    exposed = {name for name, _ in samples(api.client.get("/metrics").text)}
    doc = json.loads(DASHBOARD.read_text())
    wanted = {
        name
        for panel in doc["panels"]
        for target in panel["targets"]
        for name in re.findall(r"convroute_[a-z_]+", target["expr"])
    }
    assert len(wanted) >= 15
    missing = sorted(wanted - exposed)
    # a counter with no sample yet is still declared: every name must at least be a family
    text = api.client.get("/metrics").text
    declared = set(re.findall(r"^# TYPE (convroute_[a-z_]+)", text, re.M))
    base = {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in missing}
    assert base <= declared | {re.sub(r"_total$", "", d) for d in declared}, base - declared


def test_a_conversion_and_a_decision_are_counted_by_route_and_country(api: Api) -> None:
    message_id = api.send(dst="+447700900123")
    api.client.post(
        f"/api/v1/messages/{message_id}/conversions", json={"status": "converted"},
        headers=api.auth(),
    )  # fmt: skip
    found = samples(api.client.get("/metrics").text)
    labels = {"route": "cheap", "country": "GB", "status": "converted"}
    key = ("convroute_route_conversions_total", frozenset(labels.items()))
    assert found[key] == 1
    decisions = [
        dict(labels) for (name, labels), v in found.items()
        if name == "convroute_routing_decisions_total" and v
    ]  # fmt: skip
    assert decisions == [{"route": "cheap", "country": "GB", "explored": "false"}]


def test_the_access_log_is_an_event_per_request_when_on(
    sqlite_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="convroute.events")
    c = sqlite_container
    c.settings = dataclasses.replace(c.settings, access_log=True)
    with TestClient(create_app(c)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/messages/abc").status_code == 401
    requests = [
        r.msg for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "request"
    ]  # fmt: skip
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/messages/{message_id}", 401),
    ]
    assert all(isinstance(e["duration_ms"], float) for e in requests)


def test_no_access_events_when_off(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="convroute.events")
    api.client.get("/healthz")
    assert not [
        r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "request"
    ]
