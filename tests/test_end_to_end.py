"""End to end over real HTTP: a real server process routes a scenario's traffic with its live
router; its simulated routes send receipts; the driver reports conversions through the Plivo
dialect. When one route fails mid-run, its share must fall below 10 % within the reaction the
in-process simulation of the same scenario and seed measures (+ a stated margin); the users
must convert as the routes they were sent on make them, and outside that margin the live
router's decisions must be worth what the in-process router's are."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.server import Server

from convroute.bootstrap import bootstrap
from convroute.cli.against import Credentials, drive
from convroute.config import Settings
from convroute.sim.run import simulate
from convroute.sim.scenario import load
from convroute.sim.truth import Truth
from tests.conftest import paced_server_env, two_routes_and_an_account
from tests.scrape import value

pytestmark = pytest.mark.paced  # run alone: a loaded machine paces it slower (Makefile)

SCENARIO = Path(__file__).parent / "fixtures" / "e2e-outage.toml"
SPEED = 50.0  # scenario seconds per real second
SEED = 5
MARGIN = 150  # messages: receipts and reports arrive by HTTP, and the server reads its
# log every 50 ms (2.5 scenario seconds), so the live router sees everything a little later
ADMIN = "e2e-operator-token-0123456789"


def prepare(database_url: str) -> dict[str, object]:
    # the scenario's 300 s window, at SPEED
    doc = two_routes_and_an_account(database_url, "e2e", round(300 / SPEED))
    doc["admin_token"] = ADMIN
    return doc


@pytest.mark.slow
def test_a_failing_route_loses_its_traffic_over_real_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    creds = Credentials.from_json(prepare(url))
    server = Server(
        url,
        env=paced_server_env(SPEED, ADMIN),
        log=tmp_path / "server.log",
    ).start()
    try:
        result = asyncio.run(drive(server.base_url, SCENARIO, creds, SEED, SPEED))
        anomalies = _anomalies(server.base_url)
        metrics = httpx.get(f"{server.base_url}/metrics").text
    finally:
        server.stop()

    # The HTTP run draws each message's fate from its id, the in-process one from its seeded
    # stream, so their users differ whatever the seed: the reference is the mean of five
    # in-process runs (seeds SEED..SEED+4), its reaction that of seed SEED.
    scenario = load(SCENARIO)
    runs = [simulate(scenario, "convroute", SEED + k) for k in range(5)]
    # when A fails, as a message index (one message per scenario second)
    (fails_at,) = (int(t) for t in scenario.routes[0].deliver["*"].changes())
    (reaction,) = runs[0].reactions
    assert reaction is not None
    in_process_rate = sum(r.conversion_rate for r in runs) / len(runs)
    # The routes' true conversion rates at each message's time: what the routing decisions were
    # worth, free of the users' draws. The messages the stated margin allows the live router
    # to react later on (receipts and reports come by HTTP, a loaded machine paces it slower)
    # are left out of the comparison of decisions.
    truth = Truth(scenario)
    late = range(fails_at, fails_at + reaction + MARGIN)

    def worth(routes: list[str], times: list[float], skip: range) -> float:
        kept = [(r, t) for i, (r, t) in enumerate(zip(routes, times, strict=True)) if i not in skip]
        return sum(truth.at("GB", t)[r][1] for r, t in kept) / len(kept)

    http_worth = worth(result.routes, result.scenario_times, late)
    in_process_worth = sum(
        worth(r.routes, [i * scenario.interval_s for i in range(len(r.routes))], late) for r in runs
    ) / len(runs)
    assert result.messages == 1200
    assert result.failed_sends == 0
    before = result.share("A", 200, fails_at)
    after = result.share("A", fails_at + reaction + MARGIN, 1200)
    print(
        f"A's share before the failure {before:.1%}, after {after:.1%} "
        f"(from message {fails_at + reaction + MARGIN}; in-process reaction {reaction}); "
        f"conversion rate {result.conversion_rate:.1%} over HTTP, "
        f"{in_process_rate:.1%} in process (mean of 5 seeds), oracle {result.oracle_rate:.1%}; "
        f"decisions worth {http_worth:.1%} over HTTP, {in_process_worth:.1%} in process "
        f"outside messages {late.start}-{late.stop}; all HTTP decisions worth "
        f"{worth(result.routes, result.scenario_times, range(0)):.1%}; {result.summary()}"
    )
    assert before > 0.7  # it had learned A was the better route
    assert after < 0.10
    # the live router's anomaly watch raised A's fall as its drop, in progress
    raised = [(a["kind"], a["route"], a["active"]) for a in anomalies]
    assert raised == [("conversion_drop", "A", True)], json.dumps(anomalies)  # with the evidence
    assert anomalies[0]["evidence"]["rate_after"] < 0.5 * anomalies[0]["evidence"]["rate_before"]
    assert value(metrics, "convroute_routing_anomalies_raised_total", kind="conversion_drop") == 1
    # the users over HTTP converted as the routes they were sent on made them (sd about 1.3 points)
    assert (
        abs(result.conversion_rate - worth(result.routes, result.scenario_times, range(0))) <= 0.05
    )
    # and outside the margin, the live router's decisions were worth at least the in-process
    # router's (over HTTP they came out 1-2 points better in five runs)
    assert http_worth >= in_process_worth - 0.02
    # every decision is in the log with its probability, and so are the receipts
    db = bootstrap(Settings(database_url=url), migrate=False)
    try:
        rows = db.store.read(
            lambda conn: conn.exec_driver_sql(
                "SELECT COUNT(*), MIN(probability), MAX(probability) FROM routing_decisions"
            ).one()
        )
        receipts = db.store.read(
            lambda conn: conn.exec_driver_sql("SELECT COUNT(*) FROM dlr_events").scalar_one()
        )
    finally:
        db.close()
    assert rows[0] == 1200
    assert 0.0 < rows[1] <= rows[2] <= 1.0
    assert receipts > 1000


def _anomalies(base_url: str) -> list[dict[str, Any]]:
    """The anomalies of the server's quality report for the network GB's traffic went by."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    url = f"{base_url}/api/v1/routes/quality?country=GB"
    (network,) = httpx.get(url, headers=headers).json()["networks_seen"] or [""]
    report = httpx.get(f"{url}&network={network}", headers=headers).json()
    anomalies: list[dict[str, Any]] = report["anomalies"]
    return anomalies


def test_credentials_file_is_checked() -> None:
    with pytest.raises(Exception, match="admin_token"):
        Credentials.from_json(json.loads('{"credentials": {}}'))


@pytest.mark.slow
def test_users_who_try_expired_codes_are_reported_late_over_real_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    speed = 100.0
    doc = two_routes_and_an_account(url, "late", round(900 / speed))  # the window outlasts it
    doc["admin_token"] = ADMIN
    server = Server(url, env=paced_server_env(speed, ADMIN), log=tmp_path / "server.log").start()
    try:
        late = Path(__file__).parent / "fixtures" / "e2e-late.toml"
        result = asyncio.run(drive(server.base_url, late, Credentials.from_json(doc), 2, speed))
    finally:
        server.stop()
    assert result.messages == 60
    assert result.conversions == 0  # every code came too late to convert
    assert result.late > 40  # most users (intent 0.9) tried it anyway
    c = bootstrap(Settings(database_url=url), migrate=False)
    try:
        rows = c.store.read(
            lambda conn: conn.exec_driver_sql(
                "SELECT status, count(*) FROM conversion_events WHERE source = 'client' "
                "GROUP BY status"
            ).all()
        )
    finally:
        c.close()
    assert dict(rows) == {"received_after_expiration": result.late}
