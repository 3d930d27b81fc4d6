"""Retention on every backend: messages older than the age go with their state, routing
decision and events, in bounded batches; younger ones and those whose window is still open
stay; the router rebuilds from what is left; the server purges by itself; the CLI too."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import Container, bootstrap
from convroute.cli import main
from convroute.config import Settings
from convroute.domain.commands import (
    MessageAccepted,
    Purged,
    PurgeOld,
    RecordConversion,
    RecordDlr,
    SendMessage,
)
from convroute.domain.errors import ValidationError
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType
from convroute.services.retention import DAY_MS, check_retention
from convroute.storage import schema as t
from tests.conftest import SECRET_KEY, add_account, add_route, principal
from tests.conftest import run as batch

TABLES = (t.messages, t.message_state, t.routing_decisions, t.conversion_events, t.dlr_events)


def counts(c: Container) -> dict[str, int]:
    def read(conn):  # type: ignore[no-untyped-def]
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TABLES
        }

    return c.store.read(read)  # type: ignore[no-any-return]


def _message(c: Container, who: object, at: int, trackable: bool, events: bool) -> str:
    def run(*commands: object) -> list[object]:
        return batch(c, *commands, now=at)

    (sent,) = run(SendMessage(who, "Acme", "+14155552671", "x", MessageType.OTP, trackable))  # type: ignore[arg-type]
    assert isinstance(sent, MessageAccepted)
    if events:
        run(
            RecordDlr(who, sent.message_id, DlrStatus.DELIVERED),  # type: ignore[arg-type]
            RecordConversion(who, sent.message_id, ConversionStatus.CONVERTED),  # type: ignore[arg-type]
        )
    return sent.message_id


def test_old_messages_go_with_everything_about_them(container: Container) -> None:
    c = container
    add_route(c, "r", 0.01)
    who = principal(c, add_account(c))
    now = c.clock()
    old = [_message(c, who, now - 5 * DAY_MS, False, True) for _ in range(7)]
    open_window = _message(c, who, now - 5 * DAY_MS, True, False)  # window still open
    young = _message(c, who, now - DAY_MS // 2, False, True)
    assert counts(c)["messages"] == 9
    batches = []
    while True:  # in batches of 3
        (done,) = batch(c, PurgeOld(now - 3 * DAY_MS, 3), now=now)
        assert isinstance(done, Purged)
        batches.append(done.messages)
        if done.messages < 3:
            break
    assert batches == [3, 3, 1]
    left = counts(c)
    assert left == {
        "messages": 2,
        "message_state": 2,
        "routing_decisions": 2,
        "conversion_events": 1,
        "dlr_events": 1,
    }
    kept = c.store.read(lambda conn: set(conn.execute(select(t.messages.c.id)).scalars()))
    assert kept == {open_window, young}
    assert not set(old) & kept
    # the router rebuilds from what is left: the young message's decision and outcomes
    fresh = bootstrap(c.settings, migrate=False)
    try:
        assert fresh.follower.catch_up() == 3
    finally:
        fresh.close()


@pytest.mark.parametrize("days", [0.5, 1, 1.99, -1, 1e9])
def test_a_retention_shorter_than_the_routers_memory_is_refused(days: float) -> None:
    with pytest.raises(ValidationError):
        check_retention(days)


def test_the_server_purges_by_itself(sqlite_container: Container) -> None:
    c = sqlite_container
    c.settings = dataclasses.replace(c.settings, retention_days=2, retention_sweep_seconds=0.05)
    add_route(c, "r", 0.01)
    who = principal(c, add_account(c))
    now = c.clock()
    for _ in range(5):
        _message(c, who, now - 3 * DAY_MS, False, True)
    _message(c, who, now, False, False)
    with TestClient(create_app(c)):
        deadline = time.monotonic() + 5
        while counts(c)["messages"] != 1:
            assert time.monotonic() < deadline, counts(c)
            time.sleep(0.05)
    assert counts(c)["conversion_events"] == 0


def test_the_cli_purges_in_batches(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "cli.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"

    c = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY), migrate=False)
    try:
        add_route(c, "r", 0.01)
        who = principal(c, add_account(c))
        for _ in range(5):
            _message(c, who, c.clock() - 10 * DAY_MS, False, True)
    finally:
        c.close()
    env = {"CONVROUTE_SECRET_KEY": SECRET_KEY}
    run = CliRunner()
    refused = run.invoke(main, ["retention", "purge", "--database-url", url], env=env)
    assert refused.exit_code != 0
    assert "--older-than" in refused.output
    short = run.invoke(main, ["retention", "purge", "--older-than", "1", "--database-url", url])
    assert short.exit_code != 0
    done = run.invoke(
        main,
        ["retention", "purge", "--older-than", "7", "--batch", "2", "--database-url", url],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert "purged 5 messages" in done.output
