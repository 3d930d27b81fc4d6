"""The hot endpoints served straight (issue 20): an OTP platform's peak is sends and
conversion reports, and each one went through Starlette's middleware and its router, about a
fifth of the event loop's time on the GIL (docs/benchmarks.md). ``FastPath`` is the first
middleware (only Starlette's error middleware is outside it): a POST that fully matches one
of the hot routes (every dialect's send and conversion report) is handed to its endpoint at
once, measured as ``Instrumented`` measures; everything else, and a hot path with another
method, goes on to the app as before.

The endpoints are the same functions: each is ``guarded`` (every error, an unexpected one
included, becomes an answer in its dialect's format), so the middleware skipped had nothing
to catch for them."""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from convroute.api.instrument import Instrumented
from convroute.observe.metrics import Metrics


class FastPath:
    """ASGI: the hot routes straight to their endpoints, the rest to ``app``."""

    def __init__(
        self, app: ASGIApp, hot: Sequence[Route], metrics: Metrics, access_log: bool
    ) -> None:
        self.app = app
        self.hot = [r for r in hot if r.methods == {"POST"}]
        self.instrumented = Instrumented(app, self.hot, metrics, access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for route in self.hot:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    await self._serve(route, {**scope, **child}, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        try:
            response = await route.endpoint(Request(scope, receive, send))
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.instrumented.observe(scope, route.path, status, time.perf_counter() - started)
