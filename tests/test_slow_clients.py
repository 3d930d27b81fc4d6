"""A real server process against slow and greedy clients: half-sent headers get 408 and are
closed at the header deadline, half-sent bodies are closed at the body deadline, past the
connection cap new requests get 503, and the server keeps answering everyone else. Then TLS:
the same server speaks HTTPS with a certificate from a test CA."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from benchmarks.server import Server, prepare_database

HEADER_S, BODY_S = 1.0, 1.5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    prepare_database(url)
    env = {
        "CONVROUTE_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_S),
        "CONVROUTE_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_S),
        "CONVROUTE_MAX_CONNECTIONS": "60",
    }
    s = Server(url, env=env).start()
    yield s
    s.stop()


def _open(server: Server, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(data)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing; fails if it is still open after ``seconds``."""
    sock.settimeout(seconds)
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except TimeoutError:
        pytest.fail(f"still open after {seconds} s; got {got!r}")
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return got


@pytest.mark.slow
def test_slow_headers_and_bodies_are_cut_and_others_still_served(server: Server) -> None:
    started = time.monotonic()
    heads = [
        _open(server, b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow") for _ in range(20)
    ]
    silent = [_open(server, b"") for _ in range(10)]
    bodies = [
        _open(
            server,
            b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"src":',
        )
        for _ in range(20)
    ]
    # meanwhile an honest client is served at once
    assert httpx.get(server.base_url + "/healthz", timeout=5).text == "ok"
    for sock in heads + silent:
        answer = _closed_within(sock, HEADER_S + 3)
        assert answer.startswith(b"HTTP/1.1 408"), answer
    for sock in bodies:
        _closed_within(sock, BODY_S + 3)
    assert time.monotonic() - started < HEADER_S + BODY_S + 6
    assert httpx.get(server.base_url + "/healthz", timeout=5).text == "ok"


@pytest.mark.slow
def test_oversized_headers_get_431(server: Server) -> None:
    sock = _open(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
    answer = _closed_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    ok = _open(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fine: " + b"a" * 8_000 + b"\r\n\r\n")
    assert b"200 OK" in ok.recv(4096)
    ok.close()


@pytest.mark.slow
def test_past_the_connection_cap_requests_get_503(server: Server) -> None:
    # connections that sent headers and are reading their body count against the cap
    held = [
        _open(
            server,
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
        )
        for _ in range(60)
    ]
    time.sleep(0.3)
    try:
        r = httpx.get(server.base_url + "/healthz", timeout=5)
        assert r.status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(server.base_url + "/healthz", timeout=5).status_code == 200


@pytest.mark.slow
def test_serves_https_with_a_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(certfile)
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(certfile, append=True)
    cert.private_key_pem.write_to_path(keyfile)
    ca.cert_pem.write_to_path(cafile)
    url = f"sqlite:///{tmp_path / 'tls.db'}"
    creds = prepare_database(url)
    env = {"CONVROUTE_SSL_CERTFILE": str(certfile), "CONVROUTE_SSL_KEYFILE": str(keyfile)}
    context = ssl.create_default_context(cafile=str(cafile))
    server = Server(url, env=env, ssl_context=context)
    try:
        server.start()
        base = server.base_url
        token = creds["credentials"]["native"]["token"]  # type: ignore[index]
        r = httpx.get(
            base + "/api/v1/account", headers={"Authorization": f"Bearer {token}"}, verify=context
        )
        assert r.status_code == 200, r.text
        with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError)):  # no plain HTTP
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=3)
    finally:
        server.stop()
