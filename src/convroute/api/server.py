"""Serving the app with uvicorn, bounded as a production deployment must be: a request's
headers and its body each have a read deadline, connections are capped, TLS and a trusted
reverse proxy's forwarded headers are options (docs/api.md, "Limits", "TLS", "Behind a
reverse proxy").

uvicorn bounds the wait *between* requests (keep-alive) but not the reading of one: a client
that sends half its headers, or half its body, holds its connection for ever. No uvicorn
setting covers that, so ``BoundedHttpToolsProtocol`` adds the two deadlines to uvicorn's own
httptools protocol (the smallest change to the server everything else is tested on):

- from a connection's first byte (and each new request's first byte) to its last header:
  ``http_header_timeout_seconds``; past it the server answers 408 and closes;
- from the last header to the body's last byte: ``http_body_timeout_seconds``; past it the
  connection is closed (the endpoint reading it gets a disconnect, and answers nothing);

and one bound of size: a request line and headers of more than ``http_max_header_bytes``
get 431 and a close (httptools itself buffers a header of any length).

The deadlines are read from ``CONVROUTE_*`` in each worker process, where uvicorn builds the
protocol; ``serve`` puts the settings there first.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from convroute.bootstrap import Container
from convroute.config import Settings


@functools.cache
def _bounds() -> tuple[float, float, int]:
    settings = Settings.from_env()
    return (
        settings.http_header_timeout_seconds,
        settings.http_body_timeout_seconds,
        settings.http_max_header_bytes,
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read deadline for headers and one for the body."""

    _deadline: asyncio.TimerHandle | None = None
    _reading_headers = False
    _header_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._header_bytes > _bounds()[2]:
                self._refuse(b"431 Request Header Fields Too Large", b"the headers are too large")
                return
        super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_headers()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._reading_headers = False
        self._arm(_bounds()[1], self._body_timed_out)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm_headers(self) -> None:
        self._reading_headers, self._header_bytes = True, 0
        self._arm(_bounds()[0], self._headers_timed_out)

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing() and self._reading_headers:
            self._refuse(b"408 Request Timeout", b"the request headers did not arrive in time")

    def _refuse(self, status: bytes, text: bytes) -> None:
        self._disarm()
        self._reading_headers = False
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\ncontent-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
        )
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for ``settings``: the bounded protocol, the connection cap, the
    keep-alive wait, TLS, and whom to trust for forwarded headers."""
    os.environ.update(settings.to_env())  # the protocol reads its deadlines here, per worker
    _bounds.cache_clear()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": BoundedHttpToolsProtocol,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or "127.0.0.1",
    }
    if settings.ssl_certfile:
        options["ssl_certfile"] = settings.ssl_certfile
        options["ssl_keyfile"] = settings.ssl_keyfile
    return options


def run_server(c: Container) -> None:
    """Serve ``c``'s app until stopped: in this process with one worker, else in worker
    processes that each build their own container from the environment."""
    import uvicorn

    from convroute import logs
    from convroute.api.app import create_app

    settings = c.settings
    common: dict[str, Any] = {
        **uvicorn_options(settings),
        "log_config": logs.configure(settings.log_level),
        "access_log": False,  # the app logs each request as an event (api/instrument.py)
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(c), **common)
        c.store.close()
        return
    c.close()  # the workers build their own from the environment (uvicorn_options set it)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # each worker's metrics, summed
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="convroute-metrics-")
    uvicorn.run(
        "convroute.api.app:app_from_environment", factory=True, workers=settings.workers, **common
    )
