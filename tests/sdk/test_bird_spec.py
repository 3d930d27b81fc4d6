"""Bird's own OpenAPI documents (extracted from seed 004 into ``tests/fixtures``) judge the
Bird endpoints: every request is sent for real over HTTPS, then validated with openapi-core
against Bird's spec, and so is our response. Where the spec says a body is valid we answer
204, where it says invalid we answer 422, and every answer has the spec's shape."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider, HttpProvider

from convroute.domain.ids import new_id
from tests.sdk.conftest import Served

FIXTURES = Path(__file__).parent.parent / "fixtures"


class _HttpScheme(HttpProvider):
    """openapi-core 0.23 compares the lower-cased header scheme with the spec's as written, so
    Bird's ``AccessKey`` could never match; auth schemes are case-insensitive (RFC 9110)."""

    def __call__(self, parameters: RequestParameters) -> Any:
        scheme, _, credentials = parameters.header.get("Authorization", "").partition(" ")
        if scheme.lower() != str(self.scheme["scheme"]).lower() or not credentials:
            raise SecurityProviderError(f"expected Authorization: {self.scheme['scheme']} <key>")
        return credentials


class _Providers(SecurityProviderFactory):
    PROVIDERS: ClassVar[dict[str, type[BaseProvider]]] = {
        **SecurityProviderFactory.PROVIDERS,
        "http": _HttpScheme,
    }


# Bird's documents use path templates without declaring them as parameters, which a strict
# OpenAPI validator refuses; the documents are taken as published, without that check.
_AS_PUBLISHED = Config(spec_validator_cls=None, security_provider_factory=_Providers())
SPECS = {
    kind: OpenAPI.from_file_path(str(FIXTURES / f"bird_{name}.openapi.json"), _AS_PUBLISHED)
    for kind, name in (
        ("channels", "channel_message_conversion"),
        ("navigators", "navigator_message_conversion"),
    )
}
TYPES = ("otp", "url", "promo_code")
STATUSES = (
    "converted",
    "canceled",
    "not_converted",
    "incorrect_code",
    "resent",
    "received_after_expiration",
)
METHODS = ("unknown", "manual", "auto")


class Bird:
    """Posts conversions to the served app and validates each exchange with Bird's spec."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.session = requests.Session()
        shown = served.acme.issued_shown("bird")
        self.workspace = shown["workspace_id"]
        self.headers = {
            "Authorization": f"AccessKey {shown['access_key']}",
            "Content-Type": "application/json",
        }
        native = {"Authorization": f"Bearer {served.acme.issued_shown('native')['token']}"}
        r = self.session.post(
            f"{served.base_url}/api/v1/messages",
            json={"src": "Acme", "dst": "+14155552671", "text": "code", "trackable": True},
            headers=native,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        self.message_id: str = r.json()["id"]

    def post(
        self, body: bytes, kind: str = "channels", message_id: str | None = None
    ) -> tuple[list[Exception], requests.Response, list[Exception]]:
        """(the spec's objections to the request, our response, its objections to it)."""
        path = (
            f"/workspaces/{self.workspace}/{kind}/{new_id()}/messages/"
            f"{message_id or self.message_id}/conversions"
        )
        as_bird = requests.Request(
            "POST", "https://api.bird.com" + path, headers=self.headers, data=body
        ).prepare()
        real = as_bird.copy()
        real.prepare_url(self.served.base_url + path, None)
        response = self.session.send(real, timeout=10, verify=str(self.served.ca_path))
        spec = SPECS[kind]
        request = RequestsOpenAPIRequest(as_bird)
        request_errors = list(spec.iter_request_errors(request))
        response_errors = list(
            spec.iter_response_errors(request, RequestsOpenAPIResponse(response))
        )
        return request_errors, response, response_errors


@pytest.fixture
def bird(served: Served) -> Iterator[Bird]:
    client = Bird(served)
    yield client
    client.session.close()


def _past(minutes: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("kind", ["channels", "navigators"])
def test_every_valid_combination_is_204(bird: Bird, kind: str) -> None:
    for i, (type_, status) in enumerate(itertools.product(TYPES, STATUSES)):
        body: dict[str, Any] = {"type": type_, "status": status}
        if i % 3:
            body["method"] = METHODS[i % 3]
        if i % 2:
            body["timestamp"] = _past(i)
        request_errors, response, response_errors = bird.post(json.dumps(body).encode(), kind)
        assert request_errors == [], body
        assert response.status_code == 204, (body, response.text)
        assert response.content == b""
        assert response_errors == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "converted"}, "type"),
        ({"type": "otp"}, "status"),
        ({"type": "sms", "status": "converted"}, "type"),
        ({"type": "otp", "status": "CONVERTED"}, "status"),
        ({"type": "otp", "status": "converted", "method": "voice"}, "method"),
        ({"type": "otp", "status": "converted", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "otp", "status": "converted", "timestamp": "2026-01-01T10:00:00"}, "timestamp"),
        ({"type": "otp", "status": "converted", "timestamp": None}, "timestamp"),
        ({"type": "otp", "status": "converted", "timestamp": 1700000000}, "timestamp"),
        ({"type": "otp", "status": "converted", "channel": "sms"}, "channel"),
        ({"type": 1, "status": "converted"}, "type"),
        ({}, "type"),
    ],
)
def test_invalid_bodies_are_422_with_details(bird: Bird, body: dict[str, Any], field: str) -> None:
    before = bird.served.container.store.get_message(bird.served.acme.account.id, bird.message_id)
    request_errors, response, response_errors = bird.post(json.dumps(body).encode())
    assert request_errors != [], "Bird's spec accepts this body"
    assert response.status_code == 422, response.text
    assert response_errors == []
    error = response.json()
    assert error["code"] == "InvalidPayload"
    assert field in error["details"]
    after = bird.served.container.store.get_message(bird.served.acme.account.id, bird.message_id)
    assert after.conversions == before.conversions


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"converted"'])
def test_bodies_that_are_not_objects_are_422(bird: Bird, body: bytes) -> None:
    request_errors, response, response_errors = bird.post(body)
    assert request_errors != []
    assert response.status_code == 422
    assert response_errors == []


def test_unknown_message_is_a_spec_shaped_404(bird: Bird) -> None:
    body = json.dumps({"type": "otp", "status": "converted"}).encode()
    for message_id in (new_id(), "not-a-uuid"):
        request_errors, response, response_errors = bird.post(body, message_id=message_id)
        assert request_errors == []
        assert response.status_code == 404
        assert response_errors == []
        assert response.json()["code"] == "NotFound"


_values = st.one_of(
    st.sampled_from([*TYPES, *STATUSES, *METHODS, _past(), "2026-01-01T10:00:00", "sms"]),
    st.none(),
    st.integers(-2, 2),
    st.booleans(),
    st.text(max_size=8),
)
_bodies = st.dictionaries(
    st.sampled_from(["type", "status", "method", "timestamp", "extra"]), _values, max_size=5
) | st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES), "status": st.sampled_from(STATUSES)},
    optional={"method": st.sampled_from(METHODS), "timestamp": st.just(_past())},
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_we_accept_exactly_what_birds_spec_accepts(bird: Bird, body: dict[str, Any]) -> None:
    request_errors, response, response_errors = bird.post(json.dumps(body).encode())
    assert response_errors == []
    assert (request_errors == []) == (response.status_code == 204), (body, response.text)
