"""/metrics as Prometheus reads it, and the Grafana dashboard shipped over it."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
