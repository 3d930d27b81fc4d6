"""Every HTTP request measured: its endpoint (the route's path template, so label values stay
bounded: ``/api/v1/messages/{message_id}``, never the id), method and status into the
latency histogram; with ``CONVROUTE_ACCESS_LOG``, one ``request`` event each."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convroute.observe import events
from convroute.observe.metrics import Metrics

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route serving ``scope`` (``unmatched`` for none)."""
    for route in routes:
        if isinstance(route, Route | Mount):
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path if isinstance(route, Route) else f"{route.path}/{{path}}"
    return "unmatched"


class Instrumented:
    """ASGI middleware around the app. The router names the endpoint that served a request
    (``scope["endpoint"]``): its path template is known from the routes, without matching
    the path again (only an endpoint served at several paths is matched among those)."""

    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: Metrics, access_log: bool
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.access_log = access_log
        self._by_endpoint: dict[object, list[BaseRoute]] = {}
        # each (method, path, status)'s histogram child, once: ``labels`` locks and hashes
        self._children: dict[tuple[str, str, int], Any] = {}
        for route in routes:
            endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
            self._by_endpoint.setdefault(endpoint, []).append(route)

    def _template(self, scope: Scope) -> str:
        served = self._by_endpoint.get(scope.get("endpoint"))
        if served is not None and len(served) == 1:
            route = served[0]
            return route.path if isinstance(route, Route) else template(served, scope)
        return template(served or self.routes, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a client sees when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.observe(scope, self._template(scope), status, time.perf_counter() - started)

    def observe(self, scope: Scope, path: str, status: int, elapsed: float) -> None:
        """One request served: into the histogram, and the access log where it is on."""
        method = scope["method"] if scope["method"] in _METHODS else "other"
        child = self._children.get((method, path, status))
        if child is None:
            child = self._children[method, path, status] = self.metrics.http.labels(
                method, path, str(status)
            )
        child.observe(elapsed)
        if self.access_log:
            client = scope.get("client")
            events.emit(
                "request",
                method=method,
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client=client[0] if client else None,
            )
