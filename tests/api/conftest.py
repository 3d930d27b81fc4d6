"""An app over a real store, driven through Starlette's TestClient (lifespan included)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import Container
from convroute.services.accounts import NewAccount
from tests.conftest import add_account, add_route


@dataclass
class Api:
    client: TestClient
    container: Container
    acme: NewAccount
    other: NewAccount

    def auth(self, who: NewAccount | None = None) -> dict[str, str]:
        account = who or self.acme
        return {"Authorization": f"Bearer {account.issued_shown('native')['token']}"}

    def send(self, who: NewAccount | None = None, **body: object) -> str:
        payload = {"src": "Acme", "dst": "+14155552671", "text": "code 1", "trackable": True}
        payload.update(body)
        r = self.client.post("/api/v1/messages", json=payload, headers=self.auth(who))
        assert r.status_code == 201, r.text
        message_id: str = r.json()["id"]
        return message_id


def make_api(c: Container) -> Iterator[Api]:
    add_route(c, "cheap", 0.02)
    acme, other = add_account(c, "acme"), add_account(c, "other")
    with TestClient(create_app(c)) as client:
        yield Api(client, c, acme, other)


@pytest.fixture
def api(sqlite_container: Container) -> Iterator[Api]:
    yield from make_api(sqlite_container)


@pytest.fixture
def api_any(container: Container) -> Iterator[Api]:
    """The same, on every backend."""
    yield from make_api(container)
