"""/metrics across worker processes: a real ``convroute serve --workers 2``, scraped and
parsed with prometheus_client's own parser. Every request counted once whichever worker took
it, every label bounded (no message ids, no numbers)."""

from __future__ import annotations

from pathlib import Path

import httpx
from benchmarks.server import Server, prepare_database

from tests.scrape import samples

SENDS = 40


def test_two_workers_count_every_request_once_with_bounded_labels(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    account = prepare_database(url)
    token = account["credentials"]["native"]["token"]  # type: ignore[index]
    server = Server(url, workers=2, log=tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            for i in range(SENDS):
                r = client.post(
                    "/api/v1/messages",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"src": "Acme", "dst": f"+4477009{i:05d}", "text": "code"},
                )
                assert r.status_code == 201, r.text
                missing = client.get(f"/api/v1/messages/no-such-{i}",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                assert missing.status_code == 404
            # new connections: each may land on either worker
            scrapes = []
            for _ in range(6):
                with httpx.Client(base_url=server.base_url, timeout=10) as fresh:
                    scrapes.append(fresh.get("/metrics", headers={"Connection": "close"}).text)
    finally:
        server.stop()
    for text in scrapes:
        found = samples(text)  # parses, or raises
        sent = found[("convroute_http_request_duration_seconds_count", frozenset(
            {"method": "POST", "path": "/api/v1/messages", "status": "201"}.items()))]  # fmt: skip
        assert sent == SENDS  # the sum over both workers, in every scrape
        missing = found[("convroute_http_request_duration_seconds_count", frozenset(
            {"method": "GET", "path": "/api/v1/messages/{message_id}", "status": "404"}.items()
        ))]  # fmt: skip
        assert missing == SENDS
        decisions = sum(
            v for (n, _), v in found.items() if n == "convroute_routing_decisions_total"
        )
        assert decisions == SENDS
        for (_name, labels), _v in found.items():
            for key, label in labels:
                assert "no-such" not in label
                assert key == "le" or not label.startswith("+"), (key, label)
