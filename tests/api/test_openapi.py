"""The served OpenAPI document covers exactly the app's routes; /docs renders it."""

from __future__ import annotations

from starlette.routing import Route

from tests.api.conftest import Api


def test_every_route_is_documented_and_nothing_else(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.path, method)
        for route in api.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert documented == served


def test_request_schemas_are_the_decoded_structs(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    conversion = doc["components"]["schemas"]["ConversionIn"]
    assert conversion["required"] == ["status"]
    assert set(conversion["properties"]) == {"status", "type", "method", "timestamp"}
    assert "converted" in doc["components"]["schemas"]["ConversionStatus"]["enum"]


def test_docs_page(api: Api) -> None:
    r = api.client.get("/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "/api/v1/messages/{message_id}/conversions" in r.text


def test_health_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").text == "ok"
    assert api.client.get("/readyz").status_code == 200
    api.send()
    metrics = api.client.get("/metrics").text
    assert "convroute_writer_commands_total 1" in metrics
    assert "convroute_routing_log_entries_applied_total" in metrics
    assert "convroute_connector_submitted_total" in metrics
    assert 'convroute_routing_anomalies_active{kind="pumping"} 0' in metrics
