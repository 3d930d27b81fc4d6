"""The CLI cannot mislead: ``routes quality`` on a server's database rebuilds the router the
server runs (its routing settings are kept with the database), and a command that reads a
database that does not exist says so instead of creating an empty one."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import bootstrap
from convroute.cli import main
from convroute.config import Settings
from convroute.domain.models import RouteDestination
from convroute.services.routes import new_route
from tests.conftest import SECRET_KEY, add_account

ADMIN = "cli-agrees-operator-token-0123456789"
PACE = 40.0  # the server's traffic is played 40x: its memories are 40x shorter


def shares(report: dict[str, object]) -> dict[str, float]:
    return {r["name"]: r["share"] for r in report["routes"]}  # type: ignore[attr-defined, index]


def test_routes_quality_shows_what_the_server_shows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    settings = Settings(database_url=url, secret_key=SECRET_KEY, admin_token=ADMIN,
                        routing_pace=PACE, routing_window_seconds=60, routing_seed=3)  # fmt: skip
    c = bootstrap(settings)
    for name, price in (("A", 0.03), ("B", 0.04)):
        c.store.add_route(new_route(name, [RouteDestination("*", price)], c.clock()))
    acme = add_account(c)
    token = {"Authorization": f"Bearer {acme.issued_shown('native')['token']}"}
    with TestClient(create_app(c)) as client:
        for i in range(120):
            sent = client.post("/api/v1/messages", headers=token, json={
                "src": "Acme", "dst": f"+4477009{i:05d}", "text": "code", "trackable": True,
            }).json()  # fmt: skip
            if sent["route"]["name"] == "A":  # A converts, B never does
                client.post(f"/api/v1/messages/{sent['id']}/conversions", headers=token,
                            json={"status": "converted"})  # fmt: skip
        c.follower.catch_up()
        served = client.get(
            "/api/v1/routes/quality?country=GB", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()
        runner = CliRunner(env={"CONVROUTE_SECRET_KEY": SECRET_KEY})
        result = runner.invoke(
            main, ["routes", "quality", "--country", "GB", "--json", "--database-url", url]
        )
        assert result.exit_code == 0, result.output
        offline = json.loads(result.output)
        after = client.get(
            "/api/v1/routes/quality?country=GB", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()
        text = runner.invoke(main, ["routes", "quality", "--country", "GB", "--database-url", url])
        # the command's own settings, as before: another router
        totals_api = client.get(
            "/api/v1/dashboard/totals?hours=24", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()
        totals_cli = json.loads(
            runner.invoke(main, ["routes", "totals", "--json", "--database-url", url]).output
        )
        own = runner.invoke(
            main,
            ["routes", "quality", "--country", "GB", "--json", "--database-url", url],
            env={"CONVROUTE_SECRET_KEY": SECRET_KEY, "CONVROUTE_ROUTING_PACE": "1"},
        )
    c.close()
    assert totals_cli["by_route"] == totals_api["by_route"]  # the dashboard's, offline
    assert totals_cli["by_country"] == totals_api["by_country"]
    assert sum(g["messages"] for g in totals_cli["by_route"]) == 120
    assert offline["policy"] == served["policy"]
    for name, share in shares(served).items():
        assert abs(shares(offline)[name] - share) < 0.02, (shares(offline), shares(served))
    assert "as the last server on this database ran" in text.output
    assert "pace 40.0" in text.output

    # the router's evidence for a route depends on its pace (a message's conversion is
    # expected sooner): the same here, not with the command's own settings
    def evidence(report: dict[str, object]) -> dict[str, float]:
        return {r["name"]: r["evidence"] for r in report["routes"]}  # type: ignore[attr-defined, index]

    # (it grows as the messages age: the command ran between the server's two reports)
    for name, weight in evidence(served).items():
        assert weight - 0.005 <= evidence(offline)[name] <= evidence(after)[name] + 0.005
    unpaced = evidence(json.loads(own.output))
    assert not evidence(served)["A"] - 0.005 <= unpaced["A"] <= evidence(after)["A"] + 0.005


def test_a_command_that_reads_a_missing_database_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for args in (
        ["routes", "quality", "--country", "GB"],
        ["routes", "list"],
        ["accounts", "list"],
        ["accounts", "credentials", "acme"],
    ):
        result = CliRunner().invoke(main, [*args, "--database-url", f"sqlite:///{missing}"])
        assert result.exit_code != 0, (args, result.output)
        assert "no database at" in result.output
        assert not missing.exists()
