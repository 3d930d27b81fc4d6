"""``convroute routes checkpoint`` and ``routes checkpoints``, and the server's periodic
checkpoint, which runs the first in a child process over the server's database."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from convroute.api.checkpointer import make_checkpoint
from convroute.bootstrap import bootstrap
from convroute.cli import main
from convroute.config import Settings
from tests.conftest import SECRET_KEY, add_account, add_route, principal, send


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def with_sends(path: Path, sends: int) -> str:
    """A SQLite database at ``path`` with a route, an account and ``sends`` messages."""
    url = f"sqlite:///{path}"
    c = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY))
    try:
        add_route(c, "cheap", 0.02)
        who = principal(c, add_account(c))
        for _ in range(sends):
            send(c, who)
    finally:
        c.close()
    return url


def test_checkpoints_are_made_from_the_log_and_listed(tmp_path: Path) -> None:
    url = with_sends(tmp_path / "c.db", 5)
    db = ["--database-url", url]
    env = {"CONVROUTE_SECRET_KEY": SECRET_KEY}
    result = CliRunner().invoke(main, ["routes", "checkpoints", *db], env=env)
    assert "no checkpoint yet" in result.output
    first = CliRunner().invoke(main, ["routes", "checkpoint", *db], env=env).output
    assert "checkpoint of 5 log entries" in first
    assert "from the whole log" in first
    second = CliRunner().invoke(main, ["routes", "checkpoint", "--keep", "1", *db], env=env)
    assert "from the checkpoint of" in second.output
    assert "and 0 entries after it" in second.output
    listed = CliRunner().invoke(main, ["routes", "checkpoints", *db], env=env).output
    assert len(listed.strip().splitlines()) == 2  # a header and the one kept
    assert "another code or setting" not in listed
    # another routing setting: the checkpoint is not its own
    other = {**env, "CONVROUTE_ROUTING_WINDOW_SECONDS": "900"}
    listed = CliRunner().invoke(main, ["routes", "checkpoints", *db], env=other).output
    assert "another code or setting" in listed


def test_a_server_makes_its_checkpoint_in_a_child_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_sends(tmp_path / "s.db", 1)
    c = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY))
    try:
        with caplog.at_level(logging.INFO, logger="convroute.routing"):
            assert asyncio.run(make_checkpoint(c, timeout_s=120))
        assert "checkpoint of 1 log entries" in caplog.text
        made = c.checkpoints.store.checkpoint_made(c.checkpoints.routing_key)
        assert made is not None
        assert c.checkpoints.store.latest_checkpoint(c.checkpoints.routing_key) is not None
    finally:
        c.close()


def test_a_failed_checkpoint_is_logged_and_the_server_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    c = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY))
    try:
        (tmp_path / "gone.db").unlink()  # the child finds no database
        with caplog.at_level(logging.WARNING, logger="convroute.routing"):
            assert not asyncio.run(make_checkpoint(c, timeout_s=120))
        assert "making a checkpoint failed" in caplog.text
        assert "no database" in caplog.text
    finally:
        c.close()
