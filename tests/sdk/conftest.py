"""The app served over real HTTPS (uvicorn, in a thread) with a test CA from ``trustme``, so
that the providers' own SDKs, unmodified, can be its clients.

nexmo 2.x only accepts a bare IP or host name as its API host (no port), so the server binds
port 443 on a random loopback address (127.x.y.z) when the process may; where it may not, the
nexmo tests say so and are skipped (under CI=true they fail instead).
"""

from __future__ import annotations

import gc
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
import uvicorn

from convroute.api.app import create_app
from convroute.bootstrap import Container
from convroute.services.accounts import NewAccount
from tests.conftest import add_account, add_route


@dataclass
class Served:
    """A running HTTPS server over a real store."""

    container: Container
    host: str
    port: int
    ca_path: Path
    acme: NewAccount
    other: NewAccount

    @property
    def netloc(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.netloc}"


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _address() -> tuple[str, int]:
    """A random loopback address on port 443 when bindable, else 127.0.0.1 and a free port."""
    rng = random.Random()
    for _ in range(10):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
        if _bindable(host, 443):
            return host, 443
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1", int(s.getsockname()[1])


@pytest.fixture
def served(
    sqlite_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    host, port = _address()
    ca = trustme.CA()
    cert = ca.issue_cert(host, "localhost")
    cert_path, ca_path = tmp_path / "server.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    ca.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))  # what requests-based SDKs trust

    c = sqlite_container
    add_route(c, "cheap", 0.02)
    acme, other = add_account(c, "acme"), add_account(c, "other")
    config = uvicorn.Config(
        create_app(c),
        host=host,
        port=port,
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(cert_path),
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the HTTPS test server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield Served(c, host, port, ca_path, acme, other)
    finally:
        gc.collect()  # SDK clients left in reference cycles close their pooled connections
        server.should_exit = True
        thread.join(timeout=20)


def require_port_443(served: Served) -> None:
    """nexmo 2.x cannot be given a port: skip loudly (fail under CI) without port 443."""
    if served.port != 443:
        message = (
            "nexmo 2.x SDK tests did NOT run: this process may not bind port 443 on a "
            "loopback address, and nexmo 2.x accepts no port in its api_host"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
