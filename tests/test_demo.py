"""``serve --demo``: simulated routes from the demo scenario, an account whose credentials and
an operator token are written (0600) for the traffic driver, the router at the demo's pace."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from convroute.bootstrap import bootstrap
from convroute.cli import demo
from convroute.config import Settings
from convroute.domain.statuses import MessageType

ROOT = Path(__file__).parents[1]


def test_demo_set_up_is_created_once_and_reads_its_token_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    settings = demo.demo_settings(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    assert settings.routing_pace == demo.DEMO_SPEED
    assert settings.routing_window_seconds == 15.0
    assert settings.admin_token
    c = bootstrap(settings)
    try:
        created = demo.ensure_demo(c)
        assert created is not None
        routes = c.store.routes()
        assert {r.name for r in routes} == {n for n, _ in demo.DEMO_ROUTES}
        assert all(r.connector == "simulated" for r in routes)
        assert all(Path(r.config["scenario"]) == ROOT / "scenarios" / "demo.toml" for r in routes)
        assert c.store.windows(created.account.id)[MessageType.OTP] == 15
        path = tmp_path / "demo-credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = json.loads(path.read_text())
        assert doc["admin_token"] == settings.admin_token
        assert doc["credentials"]["native"]["token"] == created.issued_shown("native")["token"]
        assert demo.ensure_demo(c) is None  # the second start creates nothing
    finally:
        c.close()
    again = demo.demo_settings(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    assert again.admin_token == settings.admin_token
    assert "simulate --against" in demo.learning(again, "http://127.0.0.1:8080")
