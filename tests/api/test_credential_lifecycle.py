"""Credential lifecycle: revoke (401 at once, on this instance and on another one over the same
database) and rotate (the new credential works, the old one for the overlap, then not), from
the operator API and the CLI."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import bootstrap
from convroute.cli import main
from convroute.config import Settings
from convroute.domain.statuses import Dialect
from tests.api.conftest import ADMIN, Api

H = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def second(api: Api) -> Iterator[TestClient]:
    """Another instance over the same database, watching credentials every 50 ms."""
    settings = dataclasses.replace(api.container.settings, auth_refresh_seconds=0.05)
    c = bootstrap(settings, migrate=False)
    with TestClient(create_app(c)) as client:
        yield client
    c.close()


def _credential_id(api: Api, dialect: Dialect) -> str:
    return api.acme.issued[dialect].credential.id


def _whoami(client: TestClient, token: str) -> int:
    return client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_revoked_credential_is_refused_at_once_on_every_instance(
    admin: Api, second: TestClient
) -> None:
    api = admin
    token = api.shown("native")["token"]
    assert _whoami(api.client, token) == 200
    assert _whoami(second, token) == 200  # now cached there too
    cid = _credential_id(api, Dialect.NATIVE)
    r = api.client.post(f"/api/v1/accounts/acme/credentials/{cid}/revoke", headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == cid
    assert _whoami(api.client, token) == 401  # this instance: at once
    deadline = time.monotonic() + 2
    while _whoami(second, token) != 401:  # the other: at its next look (50 ms here)
        assert time.monotonic() < deadline, "the other instance still accepts the credential"
        time.sleep(0.02)
    listed = api.client.get("/api/v1/accounts/acme", headers=H).json()["credentials"]
    assert {c["id"]: c["live"] for c in listed}[cid] is False
    # the other account's credentials are untouched
    assert _whoami(api.client, api.shown("native", api.other)["token"]) == 200


def test_another_accounts_credential_cannot_be_revoked_through_this_account(
    admin: Api,
) -> None:
    api = admin
    theirs = api.other.issued[Dialect.NATIVE].credential.id
    r = api.client.post(f"/api/v1/accounts/acme/credentials/{theirs}/revoke", headers=H)
    assert r.status_code == 404
    assert _whoami(api.client, api.shown("native", api.other)["token"]) == 200
    assert api.client.post(f"/api/v1/accounts/acme/credentials/{theirs}/revoke").status_code == 401


def _plivo_send(api: Api, auth_id: str, token: str) -> int:
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/",
        json={"src": "14155551111", "dst": "14155552222", "text": "x"},
        auth=(auth_id, token),
    ).status_code


def test_rotation_keeps_the_old_credential_for_the_overlap_then_stops_it(admin: Api) -> None:
    api = admin
    old_id, old_token = api.plivo_auth()
    cid = _credential_id(api, Dialect.PLIVO)
    r = api.client.post(
        f"/api/v1/accounts/{api.acme.account.id}/credentials/{cid}/rotate",
        json={"overlap_seconds": 1},
        headers=H,
    )
    assert r.status_code == 201, r.text
    new = r.json()["credential"]
    assert new["auth_id"] != old_id
    assert new["traffic_class"] == "2fa"
    assert _plivo_send(api, new["auth_id"], new["auth_token"]) == 202
    assert _plivo_send(api, old_id, old_token) == 202  # during the overlap
    time.sleep(1.1)
    assert _plivo_send(api, old_id, old_token) == 401
    assert _plivo_send(api, new["auth_id"], new["auth_token"]) == 202
    # a revoked credential is not rotated again
    again = api.client.post(f"/api/v1/accounts/acme/credentials/{cid}/rotate", headers=H)
    assert again.status_code == 422


@pytest.mark.parametrize("overlap", [-1, 31 * 86400, "soon"])
def test_a_bad_overlap_is_refused_and_issues_nothing(admin: Api, overlap: object) -> None:
    api = admin
    cid = _credential_id(api, Dialect.VONAGE)
    before = len(api.client.get("/api/v1/accounts/acme", headers=H).json()["credentials"])
    r = api.client.post(
        f"/api/v1/accounts/acme/credentials/{cid}/rotate",
        json={"overlap_seconds": overlap},
        headers=H,
    )
    assert r.status_code == 422, r.text
    after = api.client.get("/api/v1/accounts/acme", headers=H).json()["credentials"]
    assert len(after) == before


def test_revoke_and_rotate_from_the_cli(tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    run = CliRunner()

    def invoke(*args: str) -> str:
        result = run.invoke(main, [*args, *db], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    created = json.loads(invoke("accounts", "create", "acme", "--json"))
    rows = json.loads(invoke("accounts", "credentials", "acme", "--json"))
    assert {r["dialect"] for r in rows} == {"native", "plivo", "vonage", "bird", "twilio"}
    assert all(r["live"] for r in rows)
    assert all("secret" not in json.dumps(r) for r in rows)
    vonage = next(r for r in rows if r["dialect"] == "vonage")
    rotated = json.loads(invoke("accounts", "rotate", "acme", vonage["id"], "--json"))
    assert rotated["credential"]["api_key"] != created["credentials"]["vonage"]["api_key"]
    assert rotated["old"]["id"] == vonage["id"]
    native = next(r for r in rows if r["dialect"] == "native")
    assert "revoked at" in invoke("accounts", "revoke", "acme", native["id"])
    rows = json.loads(invoke("accounts", "credentials", "acme", "--json"))
    live = {r["id"]: r["live"] for r in rows}
    assert live[native["id"]] is False
    assert live[vonage["id"]] is True  # until the overlap ends
    assert len(rows) == 6  # five dialects, and the rotated one beside its replacement
    assert "50/s" in invoke("accounts", "set-rate-limit", "acme", "50")
    bad = run.invoke(main, ["accounts", "set-rate-limit", "acme", "0", *db])
    assert bad.exit_code != 0
    # the revoked token no longer authenticates against a server on that database
    c = bootstrap(Settings(database_url=db[1], secret_key=None), migrate=False)
    try:
        token = created["credentials"]["native"]["token"]
        with TestClient(create_app(c)) as client:
            assert _whoami(client, token) == 401
    finally:
        c.close()
