"""Connectors through the app: a local stub provider served over real HTTP for ``http``, a
scenario's carrier for ``simulated``; their receipts land as DLRs the router learns from."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from convroute.domain.models import RouteDestination
from convroute.services.routes import new_route
from tests.api.conftest import Api


class Stub:
    """A provider's send API on 127.0.0.1: records requests, answers ``status``."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                stub.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length).decode(),
                        "at": time.monotonic(),
                    }
                )
                payload = json.dumps({"messages": [{"id": "prov-1"}]}).encode()
                self.send_response(stub.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


def only_route(api: Api, connector: str, config: dict[str, Any], name: str = "up") -> None:
    api.disable_routes()
    route = new_route(name, [RouteDestination("*", 0.01)], api.container.clock(), connector, config)
    api.container.store.add_route(route)


def wait_for(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_http_connector_forwards_the_message_with_the_configured_fields(
    api: Api, stub: Stub
) -> None:
    only_route(
        api,
        "http",
        {
            "url": stub.url,
            "body": "form",
            "fields": {
                "To": "{dst_digits}",
                "From": "{src}",
                "Body": "{text}",
                "Ref": "{message_id}",
            },
            "headers": {"X-Api-Version": "2"},
            "basic_auth": "acct:s3cret",
        },
    )
    message_id = api.send(dst="+447700900123", text="Your code: 424242")
    (request,) = wait_for(lambda: stub.requests)
    assert request["body"] == (
        f"To=447700900123&From=Acme&Body=Your+code%3A+424242&Ref={message_id}"
    )
    assert request["headers"]["X-Api-Version"] == "2"
    assert request["headers"]["Authorization"].startswith("Basic ")
    wait_for(lambda: api.container.dispatcher.submitted == 1)  # the answer was read too
    assert api.view(message_id)["dlrs"] == []  # the provider's receipts come later


def outbox_size(api: Api) -> int:
    from sqlalchemy import func, select

    from convroute.storage import schema as t

    return int(
        api.container.store.read(
            lambda conn: conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
        )
    )


@pytest.mark.parametrize("status", [400, 500])
def test_a_refusal_by_the_only_route_becomes_a_failed_receipt(
    api: Api, stub: Stub, status: int
) -> None:
    stub.status = status
    only_route(api, "http", {"url": stub.url})
    message_id = api.send()
    dlrs = wait_for(lambda: api.view(message_id)["dlrs"])
    assert dlrs[0]["status"] == "failed"
    assert dlrs[0]["error_code"] == f"http_{status}"
    assert json.loads(stub.requests[0]["body"])["reference"] == message_id
    assert outbox_size(api) == 0  # given up: its text is gone too
    assert len(stub.requests) == 1  # a refusal of the message is not retried


def test_a_busy_only_route_is_tried_again_until_it_takes_the_message(api: Api, stub: Stub) -> None:
    stub.status = 429
    only_route(api, "http", {"url": stub.url})
    message_id = api.send()
    wait_for(lambda: stub.requests)
    assert outbox_size(api) == 1  # kept, with a back-off
    stub.status = 200
    wait_for(lambda: api.container.dispatcher.submitted == 1, seconds=8)
    refs = [json.loads(r["body"])["reference"] for r in stub.requests]
    assert set(refs) == {message_id}
    assert len(refs) >= 2
    assert api.view(message_id)["dlrs"] == []  # never a failure: it went out
    assert outbox_size(api) == 0


def test_an_unreachable_only_route_is_tried_again_once_it_answers(api: Api) -> None:
    """The provider is down (nothing listens on its port) when the message is sent, then
    comes up: the message reaches it from the outbox."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    only_route(api, "http", {"url": f"http://127.0.0.1:{port}/send", "timeout_s": 2})
    message_id = api.send()
    wait_for(lambda: api.container.dispatcher.resumed == 0 and outbox_size(api) == 1)
    time.sleep(0.5)
    assert api.view(message_id)["dlrs"] == []
    late = Stub(port)
    try:
        wait_for(lambda: late.requests, seconds=8)
        assert json.loads(late.requests[0]["body"])["reference"] == message_id
        wait_for(lambda: outbox_size(api) == 0)
    finally:
        late.close()


def scenario(tmp_path: Path, body: str) -> str:
    path = tmp_path / "carrier.toml"
    path.write_text('name = "carrier"\nmessages = 10\n' + body)
    return str(path)


def test_simulated_connector_sends_the_scenarios_receipts(api: Api, tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        """
[[routes]]
name = "good"
deliver = 1.0
latency_s = 2.0
[[routes]]
name = "dead"
deliver = 0.0
[[routes]]
name = "mute"
deliver = 1.0
dlr = "none"
[[routes]]
name = "refuses"
deliver = 1.0
submit_error = 1.0
""",
    )
    for name in ("good", "dead", "mute", "refuses"):
        only_route(api, "simulated", {"scenario": path, "speed": 100.0}, name=name)
        message_id = api.send()
        if name == "mute":
            time.sleep(0.5)
            assert api.view(message_id)["dlrs"] == []
            continue
        (dlr,) = wait_for(lambda message_id=message_id: api.view(message_id)["dlrs"])
        expected = {"good": "delivered", "dead": "failed", "refuses": "failed"}[name]
        assert dlr["status"] == expected, name
        if name == "refuses":
            assert dlr["error_code"] == "submit_error"


def test_a_simulated_route_without_a_scenario_takes_messages_silently(api: Api) -> None:
    message_id = api.send()  # the default test route is simulated, with no scenario
    wait_for(lambda: api.container.dispatcher.submitted == 1)
    time.sleep(0.2)
    assert api.view(message_id)["dlrs"] == []
