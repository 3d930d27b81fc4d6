"""The served OpenAPI document covers exactly the app's routes; /docs renders it."""

from __future__ import annotations

from starlette.routing import Route

from tests.api.conftest import Api
from tests.scrape import value


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
    assert 'spec-url="/openapi.json"' in r.text
    viewer = api.client.get("/static/vendor/redoc-2.5.1/redoc.standalone.js")
    assert viewer.status_code == 200
    assert len(viewer.content) > 500_000


def test_health_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").text == "ok"
    assert api.client.get("/readyz").status_code == 200
    api.send()
    metrics = api.client.get("/metrics").text
    # the send, and the dispatcher's own (its submission cleared, the outbox looked at)
    assert (value(metrics, "convroute_writer_commands_total") or 0) >= 1
    assert value(metrics, "convroute_routing_log_entries_applied_total") is not None
    assert value(metrics, "convroute_routing_anomalies_active", kind="pumping") == 0
    assert value(metrics, "convroute_routing_decisions_total", route="cheap", country="US",
                 explored="false") == 1  # fmt: skip
    assert value(metrics, "convroute_http_request_duration_seconds_count", method="POST",
                 path="/api/v1/messages", status="201") == 1  # fmt: skip


def test_a_wrong_method_keeps_its_allow_header_in_every_dialect(api: Api) -> None:
    for path, allowed in (
        ("/api/v1/messages", {"POST"}),
        ("/api/v1/windows/otp", {"PUT", "DELETE"}),
        ("/sms/json", {"POST"}),
        ("/conversions/sms", {"POST"}),
        ("/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/", {"GET", "HEAD", "POST"}),
    ):
        r = api.client.patch(path)
        assert r.status_code == 405, path
        assert set(r.headers["allow"].replace(" ", "").split(",")) == allowed, path


def test_the_document_says_what_the_server_enforces(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    message = schemas["MessageIn"]["properties"]
    assert message["text"]["maxLength"] == 1600
    assert message["src"]["maxLength"] == 20
    conversion = doc["paths"]["/api/v1/messages/{message_id}/conversions"]["post"]
    assert {"200", "201", "400", "422", "429"} <= set(conversion["responses"])
    assert conversion["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConversionRecorded"
    }
    assert "Retry-After" in conversion["responses"]["429"]["headers"]
    assert conversion["parameters"][0]["schema"]["format"] == "uuid"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = [s for s in op["responses"] if s.startswith("2") and s != "204"]
            if path.startswith(("/api/", "/v1/", "/sms/")):
                for status in ok:
                    assert "content" in op["responses"][status], (method, path, status)
