"""Two accounts with different objectives on one destination, through a real server process
(issue 22): both learn from the same evidence; a bank valuing conversions and a shop valuing
conversions minus 100 x the price get different routes for the same number."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from benchmarks.server import Server

from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.services.accounts import new_account
from tests.conftest import paced_server_env, two_routes_and_an_account

pytestmark = pytest.mark.paced  # run alone: a loaded machine paces it slower (Makefile)

ADMIN = "routing-operator-token-0123456789"
SPEED = 50.0
DST = "+447700900123"


def _tokens(url: str) -> tuple[str, str]:
    """The bank (routes A 0.03 and B 0.04 come with it) and the shop, on one database."""
    bank = two_routes_and_an_account(url, "bank", round(300 / SPEED))
    c = bootstrap(Settings(database_url=url))
    try:
        shop = new_account("shop", TrafficClass.TWO_FA, c.clock())
        c.store.create_account(shop)
        c.store.set_window(shop.account.id, MessageType.OTP, round(300 / SPEED))
    finally:
        c.close()
    bank_token = bank["credentials"]["native"]["token"]  # type: ignore[index]
    return str(bank_token), shop.issued_shown("native")["token"]


async def _send(client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    r = await client.post(
        "/api/v1/messages",
        json={"src": "Acme", "dst": DST, "text": "code 1", "trackable": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["route"]["name"]


async def _users(base: str, token: str, count: int) -> Counter[str]:
    """``count`` messages of the account's and the routes they went by; their users convert
    on B always, on A 3 times in 5, and the conversions are reported at once (so the router
    learns that they come at once, and reads a message without one as a user who did not)."""
    routes: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for n in range(count):
            message_id, route = await _send(client, token)
            routes[route] += 1
            if route == "B" or n % 5 < 3:
                r = await client.post(
                    f"/api/v1/messages/{message_id}/conversions",
                    json={"status": "converted"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 201, r.text
    return routes


@pytest.mark.slow
def test_two_objectives_route_one_destination_differently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'routing.db'}"
    bank, shop = _tokens(url)
    server = Server(url, env=paced_server_env(SPEED, ADMIN), log=tmp_path / "server.log").start()
    try:
        base = server.base_url
        put = httpx.put(
            f"{base}/api/v1/account/routing",
            json={"goal": "value", "lambda": 100},
            headers={"Authorization": f"Bearer {shop}"},
        )
        assert put.status_code == 200, put.text
        asyncio.run(_users(base, bank, 300))  # the evidence both accounts learn from
        # the windows close (6 s at this pace) and the router reads them from the log
        reports: dict[str, dict[str, float]] = {}
        for _ in range(60):
            for account in ("bank", "shop"):
                q = httpx.get(
                    f"{base}/api/v1/routes/quality",
                    params={"country": "GB", "account": account},
                    headers={"Authorization": f"Bearer {ADMIN}"},
                ).json()
                reports[account] = {r["name"]: r["share"] for r in q["routes"]}
            if reports["bank"].get("B", 0) > 0.8 and reports["shop"].get("A", 0) > 0.8:
                break
            asyncio.run(asyncio.sleep(0.5))
        banks = asyncio.run(_users(base, bank, 60))
        shops = asyncio.run(_users(base, shop, 60))
    finally:
        server.stop()
    # the same estimates, valued two ways: B converts 1.0 at 0.04, A 0.6 at 0.03
    assert reports["bank"]["B"] > 0.8, reports
    assert reports["shop"]["A"] > 0.8, reports  # 0.6 - 3 beats 1.0 - 4
    assert banks["B"] > 45, banks
    assert shops["A"] > 45, shops
