"""Delivery survives a crash: a real server process takes messages while its provider hangs
(every message committed, none taken), is SIGKILLed, and restarted once the provider answers;
every acknowledged message reaches the provider, none twice (the provider deduplicates on our
message id, and its log shows each taken once), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from benchmarks.server import Server, post_json

from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.domain.models import RouteDestination
from convroute.domain.statuses import TrafficClass
from convroute.services.accounts import new_account
from convroute.services.routes import new_route
from convroute.storage.secretbox import new_key
from tests.conftest import _truncate_pg


class Provider:
    """A send API on loopback that hangs every request until ``answering`` is set, then takes
    each message once by its reference (our message id)."""

    def __init__(self) -> None:
        self.answering = threading.Event()
        self.hung = 0
        self.taken: Counter[str] = Counter()  # references answered 200, with repeats
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if not provider.answering.is_set():
                    provider.hung += 1
                    provider.answering.wait(60)  # the server dies meanwhile
                    return
                provider.taken[body["reference"]] += 1
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.answering.set()
        self.server.shutdown()
        self.server.server_close()


def run(database_url: str, tmp_path: Path) -> None:
    key = new_key()
    provider = Provider()
    c = bootstrap(Settings(database_url=database_url, secret_key=key))
    try:
        now = c.clock()
        c.store.add_route(
            new_route("up", [RouteDestination("*", 0.01)], now, "http", {"url": provider.url})
        )
        account = new_account("crash", TrafficClass.TWO_FA, now)
        c.store.create_account(account)
        token = account.issued_shown("native")["token"]
    finally:
        c.close()
    env = {"CONVROUTE_SECRET_KEY": key, "CONVROUTE_OUTBOX_LEASE_SECONDS": "2"}
    server = Server(database_url, env=env, log=tmp_path / "server.log").start()
    try:

        def send(i: int) -> str:
            body = {"src": "Acme", "dst": "+447700900123", "text": f"code {i}", "trackable": True}
            answer = post_json(server.base_url + "/api/v1/messages", body, token)
            return str(answer["id"])

        with ThreadPoolExecutor(8) as pool:
            acknowledged = set(pool.map(send, range(40)))
        deadline = time.monotonic() + 10
        while provider.hung < len(acknowledged) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert provider.hung >= 1  # submissions under way, none answered
        assert not provider.taken
    finally:
        server.kill()  # SIGKILL: between commit and the route's answer
    provider.answering.set()
    restarted = Server(database_url, env=env, log=tmp_path / "server.log").start()
    try:
        deadline = time.monotonic() + 30
        while set(provider.taken) < acknowledged and time.monotonic() < deadline:
            time.sleep(0.1)
        lost = acknowledged - set(provider.taken)
        assert not lost, f"{len(lost)} acknowledged messages never reached the provider"
        time.sleep(2.5)  # a lease more: nothing is sent again
        twice = {ref: n for ref, n in provider.taken.items() if n > 1}
        assert not twice, f"taken more than once: {twice}"
        assert set(provider.taken) == acknowledged
    finally:
        restarted.stop()
        provider.close()


@pytest.mark.slow
def test_a_sigkill_between_commit_and_submit_loses_no_message(tmp_path: Path) -> None:
    run(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_sigkill_between_commit_and_submit_loses_no_message_on_postgresql(
    pg_schema_url: str, tmp_path: Path
) -> None:
    _truncate_pg(pg_schema_url)
    run(pg_schema_url, tmp_path)
