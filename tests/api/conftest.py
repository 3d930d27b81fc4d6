"""An app over a real store, driven through Starlette's TestClient (lifespan included)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import Container
from convroute.services.accounts import NewAccount
from convroute.storage import schema as t
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

    def shown(self, dialect: str, who: NewAccount | None = None) -> dict[str, str]:
        """The credentials of ``dialect`` as issued to the account."""
        return (who or self.acme).issued_shown(dialect)

    def plivo_auth(self, who: NewAccount | None = None) -> tuple[str, str]:
        shown = self.shown("plivo", who)
        return shown["auth_id"], shown["auth_token"]

    def bird_headers(self, who: NewAccount | None = None) -> dict[str, str]:
        return {"Authorization": f"AccessKey {self.shown('bird', who)['access_key']}"}

    def view(self, message_id: str, who: NewAccount | None = None) -> dict[str, Any]:
        """The message as the native API shows it to its owner."""
        r = self.client.get(f"/api/v1/messages/{message_id}", headers=self.auth(who))
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view

    def disable_routes(self) -> None:
        """Turn every route off: sends then have no route."""
        with self.container.store.engines.writer.begin() as conn:
            conn.execute(update(t.routes).values(enabled=False))

    def disable_conversions(self, who: NewAccount | None = None) -> None:
        """Turn the account's conversion reporting off, effective at once."""
        self.container.store.set_conversions_enabled(
            (who or self.acme).account.id, False, self.container.clock()
        )
        self.container.auth.clear()

    def counts(self) -> tuple[int, ...]:
        """Rows in every table a request could change: equal before and after = no change."""
        tables = (
            t.messages,
            t.routing_decisions,
            t.conversion_events,
            t.dlr_events,
            t.message_state,
            t.used_nonces,
        )

        def count(conn):  # type: ignore[no-untyped-def]
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in tables
            )

        return self.container.store.read(count)  # type: ignore[no-any-return]

    def send(self, who: NewAccount | None = None, **body: object) -> str:
        payload = {"src": "Acme", "dst": "+14155552671", "text": "code 1", "trackable": True}
        payload.update(body)
        r = self.client.post("/api/v1/messages", json=payload, headers=self.auth(who))
        assert r.status_code == 201, r.text
        message_id: str = r.json()["id"]
        return message_id


ADMIN = "operator-token-0123456789"
"""The operator token the ``admin`` fixture configures."""


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


@pytest.fixture
def admin(api: Api) -> Api:
    """The app with the operator's token ``ADMIN`` configured."""
    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    return api
