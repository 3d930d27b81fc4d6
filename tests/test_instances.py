"""Several server processes on one PostgreSQL database converge on the same routing
statistics: each learns only from the shared event log, its own writes and the others'."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from benchmarks.server import Server

from tests.conftest import SECRET_KEY, _truncate_pg, two_routes_and_an_account

ADMIN = "instances-operator-token-0123"
RATES = {"A": 0.8, "B": 0.3}


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    _truncate_pg(pg_schema_url)
    return pg_schema_url


@pytest.fixture
def two_servers(pg_url: str) -> Iterator[tuple[Server, Server, dict[str, object]]]:
    creds = two_routes_and_an_account(pg_url, "instances", 2, SECRET_KEY)
    env = {
        "CONVROUTE_SECRET_KEY": SECRET_KEY,
        "CONVROUTE_ADMIN_TOKEN": ADMIN,
        "CONVROUTE_ROUTING_WINDOW_SECONDS": "2",
        "CONVROUTE_ROUTING_DELAY_MEDIAN_SECONDS": "0.2",
        "CONVROUTE_WINDOW_SWEEP_SECONDS": "0.25",
        "CONVROUTE_ROUTING_TAIL_SECONDS": "0.1",
    }
    servers = [Server(pg_url, env=env).start(), Server(pg_url, env=env).start()]
    try:
        yield servers[0], servers[1], creds
    finally:
        for s in servers:
            s.stop()


def quality(server: Server, network: str | None) -> dict[str, object]:
    params = {"country": "GB", **({"network": network} if network else {})}
    r = httpx.get(
        server.base_url + "/api/v1/routes/quality",
        params=params,
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200, r.text
    doc: dict[str, object] = r.json()
    return doc


def estimates(doc: dict[str, object]) -> dict[str, tuple[float, float]]:
    return {r["name"]: (r["estimate"], r["evidence"]) for r in doc["routes"]}  # type: ignore[attr-defined, index]


@pytest.mark.slow
@pytest.mark.postgres
def test_two_instances_converge_on_the_same_statistics(
    two_servers: tuple[Server, Server, dict[str, object]],
) -> None:
    a, b, creds = two_servers
    token = creds["credentials"]["native"]["token"]  # type: ignore[index]
    plivo = creds["credentials"]["plivo"]  # type: ignore[index]
    auth = (plivo["auth_id"], plivo["auth_token"])
    network = None
    with httpx.Client(timeout=10) as http:
        for i in range(240):
            sender, reporter = (a, b) if i % 2 else (b, a)
            r = http.post(
                sender.base_url + "/api/v1/messages",
                json={"src": "Acme", "dst": f"+44770090{i:04d}", "text": "code", "trackable": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            body = r.json()
            network = body["network"]
            if (i * 7919 % 100) / 100 < RATES[body["route"]["name"]]:
                r = http.post(
                    f"{reporter.base_url}/v1/Account/{auth[0]}/Message/{body['id']}/Conversion/",
                    json={"status": "CONVERTED", "timestamp": "2026-11-23T12:00:00Z"},
                    auth=auth,
                )
                assert r.status_code == 200, r.text
    time.sleep(2.5)  # every window closes (2 s), by one instance or the other
    deadline = time.monotonic() + 5.0
    last_write = time.monotonic()
    while True:
        qa, qb = quality(a, network), quality(b, network)
        ea, eb = estimates(qa), estimates(qb)
        same = qa["log_entries_applied"] == qb["log_entries_applied"] and all(
            ea[k][0] == pytest.approx(eb[k][0], abs=1e-4)
            and ea[k][1] == pytest.approx(eb[k][1], rel=1e-3)
            for k in ea
        )
        if same or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(f"equal {time.monotonic() - last_write:.2f} s after the sweep had ended: {ea} / {eb}")
    assert same, (qa, qb)
    assert sum(e[1] for e in ea.values()) > 200  # every message settled into the statistics
    assert ea["A"][0] > ea["B"][0]  # and both learned that A converts better
