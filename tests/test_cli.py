"""The CLI: each command over a real SQLite database; every command documents itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from convroute.cli import main
from convroute.cli.routes import describe_anomaly
from convroute.routing.anomalies import Anomaly
from convroute.routing.policy import Context
from convroute.services.quality import ReportedAnomaly


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_accounts_create_json_has_every_dialect(db: list[str]) -> None:
    out = json.loads(invoke("accounts", "create", "acme", "--json", *db))
    creds = out["credentials"]
    assert set(creds) == {"native", "plivo", "vonage", "bird", "twilio"}
    assert creds["plivo"]["auth_id"].startswith("MA")
    assert len(creds["plivo"]["auth_token"]) == 40
    assert {"api_key", "api_secret", "signature_secret", "signature_method"} <= set(creds["vonage"])
    assert {"access_key", "workspace_id"} <= set(creds["bird"])
    assert creds["native"]["token"].startswith("cr_")
    assert all(c["traffic_class"] == "2fa" for c in creds.values())
    listing = invoke("accounts", "list", *db)
    assert "acme" in listing
    assert out["account"]["id"] in listing


def test_duplicate_account_is_a_clean_error(db: list[str]) -> None:
    invoke("accounts", "create", "acme", *db)
    result = CliRunner().invoke(main, ["accounts", "create", "acme", *db])
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_add_credential_and_windows(db: list[str]) -> None:
    invoke("accounts", "create", "acme", *db)
    out = json.loads(
        invoke(
            "accounts",
            "add-credential",
            "acme",
            "--dialect",
            "vonage",
            "--traffic-class",
            "other",
            "--signature-method",
            "md5hash",
            "--json",
            *db,
        )
    )
    assert out["vonage"]["traffic_class"] == "other"
    assert out["vonage"]["signature_method"] == "md5hash"
    assert "300 s" in invoke("accounts", "set-window", "acme", "otp", "300", *db)
    assert "conversions off" in invoke("accounts", "conversions", "acme", "off", *db)
    result = CliRunner().invoke(main, ["accounts", "set-window", "nobody", "otp", "300", *db])
    assert result.exit_code == 1
    assert "no account named" in result.output


def test_routes_and_windows_close(db: list[str]) -> None:
    invoke("routes", "add", "eu", "--price", "FR=0.031", "--price", "de=0.045", *db)
    rows = json.loads(invoke("routes", "list", "--json", *db))
    assert rows[0]["name"] == "eu"
    assert [(d["country"], d["price"]) for d in rows[0]["destinations"]] == [
        ("DE", 0.045),
        ("FR", 0.031),
    ]
    for bad in ("FR", "XX=0.1", "FR=-1", "FR=abc"):
        result = CliRunner().invoke(main, ["routes", "add", "bad", "--price", bad, *db])
        assert result.exit_code == 2, bad
    assert "closed 0 conversion window(s)" in invoke("windows", "close", *db)


def test_routes_disable_enable_set_price_delete_and_quality(db: list[str]) -> None:
    invoke("routes", "add", "eu", "--price", "FR=0.031", *db)
    invoke(
        "routes",
        "add",
        "gb",
        "--price",
        "GB=0.05",
        "--connector",
        "http",
        "--config",
        '{"url": "https://p.example/send", "basic_auth": "u:k"}',
        *db,
    )
    assert "disabled" in invoke("routes", "disable", "eu", *db)
    listing = invoke("routes", "list", *db)
    assert "False" in listing
    invoke("routes", "enable", "eu", *db)
    invoke("routes", "set-price", "eu", "FR=0.029", "GB/EE=0.04", *db)
    (eu,) = [r for r in json.loads(invoke("routes", "list", "--json", *db)) if r["name"] == "eu"]
    assert eu["enabled"]
    assert [(d["country"], d["network"], d["price"]) for d in eu["destinations"]] == [
        ("FR", None, 0.029),
        ("GB", "EE", 0.04),
    ]
    (gb,) = [r for r in json.loads(invoke("routes", "list", "--json", *db)) if r["name"] == "gb"]
    assert gb["config"]["basic_auth"] == "***"
    report = json.loads(invoke("routes", "quality", "--country", "GB", "--json", *db))
    assert {r["name"] for r in report["routes"]} == {"gb"}  # eu serves GB/EE only
    assert report["anomalies"] == []
    table = invoke("routes", "quality", "--country", "GB", "--network", "EE", *db)
    assert "eu" in table
    assert "gb" in table
    assert "why" in table
    assert "anomalies: none in the last day" in table
    assert "deleted" in invoke("routes", "delete", "gb", *db)
    result = CliRunner().invoke(main, ["routes", "disable", "nope", *db])
    assert result.exit_code == 1
    assert "no route named" in result.output


def test_secret_key_is_a_fernet_key() -> None:
    Fernet(invoke("secret-key").strip().encode())


def test_bad_database_url_is_a_clean_error() -> None:
    result = CliRunner().invoke(main, ["accounts", "list", "--database-url", "mysql://x/y"])
    assert result.exit_code == 1
    assert "database_url" in result.output


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + name + " ")
    return out


def test_every_command_has_help_with_an_example_and_is_documented() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    for name, cmd in _commands(main):
        assert cmd.help, name
        if not isinstance(cmd, click.Group):
            assert "Example: convroute" in cmd.help, name
        assert f"convroute {name}" in docs, f"docs/cli.md does not describe `convroute {name}`"


def test_the_quality_table_says_each_kind_of_anomaly_in_words() -> None:
    def said(kind: str, route: str | None, **evidence: float) -> str:
        context = Context("GB", None, "otp")
        found = Anomaly(kind, context, 0, severity=0.42, evidence=evidence, route_id=route)
        return describe_anomaly(ReportedAnomaly(found, route))

    assert said("pumping", None) == (
        "conversions down 42 % on every route while receipts still say delivered"
    )
    assert said("conversion_drop", "b", rate_before=0.9, rate_after=0.05, changed_s_ago=120) == (
        "b converts 5 %, down from 90 %, since 120 s before it was raised"
    )
    assert said(
        "receipts_diverge", "g", converts_if_delivered=0.08, other_routes_if_delivered=0.86
    ) == (
        "of the messages g's receipts say delivered, 8 % convert, against 86 % on the other routes"
    )
    assert said("no_receipts", "c", receipt_share=0.0, messages=212.4) == (
        "c sent receipts for 0 % of its 212 recent messages"
    )


def test_every_command_is_offered_by_python_m_convroute_cli() -> None:

    out = subprocess.run(
        [sys.executable, "-m", "convroute.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in main.commands:
        assert f"  {name} " in out or f"  {name}\n" in out, (name, out)


def test_commands_that_only_read_do_not_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["routes", "list", "--database-url", url])
    assert result.exit_code != 0
    assert "convroute migrate" in result.output
    invoke("migrate", "--database-url", url)
    assert "(none)" in invoke("routes", "list", "--database-url", url)


def test_accounts_routing_shows_sets_refuses_and_resets(db: list[str]) -> None:
    invoke("accounts", "create", "acme", *db)
    invoke("routes", "add", "budget", "--price", "*=0.01", *db)
    invoke("routes", "add", "grey", "--price", "*=0.005", *db)
    assert "goal the installation's objective" in invoke("accounts", "routing", "acme", *db)
    out = invoke(
        "accounts", "routing", "acme", "--goal", "value", "--lambda", "10", "--forbid", "grey",
        *db,
    )  # fmt: skip
    assert "goal value (lambda 10)" in out
    assert "routes forbidden: grey" in out
    shown = json.loads(invoke("accounts", "routing", "acme", "--json", *db))
    assert shown == {
        "goal": "value",
        "lambda": 10.0,
        "epsilon": 0.02,
        "allow_routes": [],
        "forbid_routes": ["grey"],
    }
    refused = CliRunner().invoke(main, ["accounts", "routing", "acme", "--goal", "value", *db])
    assert refused.exit_code == 2
    assert "lambda" in refused.output
    assert json.loads(invoke("accounts", "routing", "acme", "--json", *db)) == shown
    quality = invoke("routes", "quality", "--country", "GB", "--account", "acme", *db)
    assert "as account acme's messages get it: goal value, lambda 10; forbidden: grey" in quality
    assert "grey" not in quality.split("forbidden: grey", 1)[1]  # not a candidate
    invoke("accounts", "routing", "acme", "--reset", *db)
    assert json.loads(invoke("accounts", "routing", "acme", "--json", *db))["goal"] is None


def test_accounts_verify_guard_sets_and_shows_the_guard(db: list[str]) -> None:
    invoke("accounts", "create", "acme", *db)
    out = invoke("accounts", "verify-guard", "acme", "--block", "ng", "--monitor", "FR",
                 "--pumping", "hold", *db)  # fmt: skip
    assert "countries blocked: NG" in out
    assert "during a pumping episode: hold" in out
    shown = json.loads(invoke("accounts", "verify-guard", "acme", "--json", *db))
    assert shown == {
        "allowed_countries": [], "blocked_countries": ["NG"], "monitored_countries": ["FR"],
        "pumping": "hold",
    }  # fmt: skip
    for bad in (
        ["--block", "NGA"],
        ["--allow", "GB", "--block", "GB"],
        ["--reset", "--block", "NG"],
    ):
        result = CliRunner().invoke(main, ["accounts", "verify-guard", "acme", *bad, *db])
        assert result.exit_code == 2, result.output
    assert json.loads(invoke("accounts", "verify-guard", "acme", "--json", *db)) == shown
    invoke("accounts", "verify-guard", "acme", "--reset", *db)
    reset = json.loads(invoke("accounts", "verify-guard", "acme", "--json", *db))
    assert (reset["blocked_countries"], reset["pumping"]) == ([], "block")
