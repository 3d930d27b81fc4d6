"""``create_app``: the one ASGI application, every dialect mounted on one container."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Iterator

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from convroute.api import callbacks, dashboard
from convroute.api.checkpointer import checkpoint_periodically
from convroute.api.dialects import (
    bird,
    native,
    native_accounts,
    native_evaluations,
    native_routes,
    native_routing,
    native_verify,
    plivo,
    plivo_messages,
    twilio,
    vonage,
    vonage_verify,
)
from convroute.api.fastpath import FastPath
from convroute.api.http import Handler, container, json_response
from convroute.api.instrument import Instrumented
from convroute.api.openapi import openapi_document
from convroute.api.problems import HttpProblem
from convroute.bootstrap import Container, bootstrap, read_the_log, routing_settings
from convroute.config import Settings
from convroute.domain.errors import ConvrouteError
from convroute.observe.metrics import gauge, scrape
from convroute.services.retention import cutoff, purge_all
from convroute.services.sweeps import sweep

log = logging.getLogger("convroute")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    try:
        await asyncio.to_thread(container(request).store.ping)
    except ConvrouteError as exc:
        return PlainTextResponse(f"not ready: {exc.message}", 503)
    return PlainTextResponse("ready")


async def metrics(request: Request) -> Response:
    """Prometheus exposition (``observe/metrics.py``): every process's instruments, then
    what the database and the event log say now."""
    c = container(request)
    c.dispatcher.observe()
    outbox: tuple[int, int] | None = None
    forwards: tuple[int, int] | None = None
    with contextlib.suppress(ConvrouteError):  # the database is down: /readyz says so
        outbox = await asyncio.to_thread(c.store.outbox_counts)
        forwards = await asyncio.to_thread(c.store.forward_counts)

    progress: tuple[int, int, int] | None = None
    counts: dict[str, tuple[int, int]] = {}
    with contextlib.suppress(ConvrouteError):  # the writer process is starting again
        progress = await asyncio.to_thread(c.log_progress)
        counts = await asyncio.to_thread(c.reads.anomaly_counts)

    def read() -> Iterator[Metric]:
        for name, value, text in (
            ("routing_log_entries_applied", 0 if progress is None else progress[0],
             "Event-log entries the live router has learned from."),
            ("routing_log_polls", 0 if progress is None else progress[1],
             "Reads of the event log."),
            ("routing_log_poll_failures", 0 if progress is None else progress[2],
             "Reads of the event log that failed."),
        ):  # fmt: skip
            family = CounterMetricFamily(f"convroute_{name}", text)
            family.add_metric([], value)
            yield family
        if outbox is not None:
            yield gauge("convroute_outbox_pending",
                        "Messages no route has taken yet (in the outbox).", outbox[0])  # fmt: skip
            yield gauge("convroute_outbox_retrying", "Of those, the ones a route refused and"
                        " that wait to be tried again.", outbox[1])  # fmt: skip
        if forwards is not None:
            yield gauge("convroute_forwards_pending",
                        "Conversions still to forward upstream.", forwards[0])  # fmt: skip
            yield gauge("convroute_forwards_failed", "Conversions the provider refused, or that"
                        " ran out of tries (kept for operators).", forwards[1])  # fmt: skip
        # per kind only (which destination and route: the route quality report)
        raised = CounterMetricFamily(
            "convroute_routing_anomalies_raised", "Anomalies the router raised.", labels=["kind"]
        )
        active = GaugeMetricFamily(
            "convroute_routing_anomalies_active",
            "Anomalies in progress (one per destination for pumping, per route and destination"
            " for the others).",
            labels=["kind"],
        )
        for kind, (n, now) in counts.items():
            raised.add_metric([kind], n)
            active.add_metric([kind], now)
        yield raised
        yield active

    body = await asyncio.to_thread(scrape, c.metrics, read)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def openapi_json(request: Request) -> Response:
    return json_response(request.app.state.openapi)


async def docs(request: Request) -> Response:
    """The served OpenAPI document, rendered by ReDoc (vendored in api/static: no CDN)."""
    return dashboard.static_page("docs.html")


_RENDERERS = (
    ("/v1/", plivo.render_error),
    ("/conversions/", vonage.render_conversion_error),
    ("/workspaces/", bird.render_error),
)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, in the error format of the dialect the path is in."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    problem = HttpProblem(exc.status_code, code, str(exc.detail))
    path = request.url.path.lower()
    render = next((r for prefix, r in _RENDERERS if path.startswith(prefix)), native.render_error)
    response = render(problem)
    for name, value in (exc.headers or {}).items():  # a 405's Allow, for one
        response.headers[name] = value
    return response


async def sweep_windows(c: Container) -> None:
    """Close due conversion windows and forget expired nonces every
    ``window_sweep_seconds``, through the writer (``services.sweeps.sweep``)."""
    while True:
        await asyncio.sleep(c.settings.window_sweep_seconds)
        try:
            await asyncio.to_thread(sweep, c.committer.execute_sync)
        except ConvrouteError as exc:
            log.warning("window sweep failed: %s", exc.message)


async def purge_periodically(c: Container) -> None:
    """With a retention age set, delete what is older every ``retention_sweep_seconds``, one
    bounded batch at a time through the writer (other writes go between the batches)."""
    settings = c.settings
    while True:
        await asyncio.sleep(settings.retention_sweep_seconds)
        try:
            before = cutoff(c.clock(), settings.retention_days)
            done = await asyncio.to_thread(
                purge_all, c.committer.execute_sync, before, settings.retention_batch
            )
            if done.messages:
                log.info("retention: %s", done.counts)
        except ConvrouteError as exc:
            log.warning("retention purge failed: %s", exc.message)


async def watch_credentials(c: Container) -> None:
    """Forget cached credentials when the store's credential watermark moves (a revocation
    or an account change on any instance), every ``auth_refresh_seconds``."""
    while True:
        try:
            c.auth.refresh(await asyncio.to_thread(c.store.credential_watermark))
        except ConvrouteError as exc:
            log.warning("credential watch failed: %s", exc.message)
        await asyncio.sleep(c.settings.auth_refresh_seconds)


def one_route_per_path(routes: list[Route]) -> list[Route]:
    """Routes that share a path (``GET`` and ``PATCH`` of one resource) as one route that
    dispatches on the method: Starlette answers a wrong method from the first route of a
    path only, so a 405's ``Allow`` would name that route's methods and not all of them."""
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, []).append(route)
    merged = []
    for path, same in by_path.items():
        if len(same) == 1:
            merged.append(same[0])
            continue
        table: dict[str, Handler] = {}
        for route in same:
            for method in route.methods or ():
                table[method] = route.endpoint

        async def dispatch(request: Request, table: dict[str, Handler] = table) -> Response:
            return await table[request.method](request)

        merged.append(Route(path, dispatch, methods=sorted(table)))
    return merged


# what an OTP platform's peak is made of: served by ``FastPath``, past the middleware
HOT_ENDPOINTS = {
    native.send_message, native.record_conversion, plivo.send_message,
    plivo.record_conversion, vonage.send_sms, vonage.record_conversion,
    bird.record_conversion,
}  # fmt: skip


SWITCH_INTERVAL_S = 0.001
"""The server's GIL switch interval (docs/benchmarks.md: p99 at half the maximum rate 21-25 ms
with it, 28-41 ms with Python's 5 ms, throughput the same)."""


def create_app(c: Container) -> Starlette:
    """The ASGI app over an already built container."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        c.committer.start()
        with contextlib.suppress(ConvrouteError):  # what a command reading it rebuilds
            await asyncio.to_thread(
                c.store.put_setting, "routing", routing_settings(c.settings), c.clock()
            )
        # the router's state is rebuilt from the log before the first send, then followed
        # (by the writer process, where it routes: it reads the log meanwhile)
        if not c.routes_elsewhere:
            await asyncio.to_thread(read_the_log, c)
        if not await asyncio.to_thread(c.committer.wait_ready):  # (a writer process's read)
            log.error("the writer process did not start; the first write starts another")
        # what start-up built (the router's state above all) lives as long as the process:
        # out of the collector's generations, so a full collection does not walk it again
        gc.freeze()
        # the threads that hand batches to the writer and read the log wait at most 1 ms
        # for the event loop to let go of the GIL (Python's default: 5 ms): shorter tails
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        if not c.routes_elsewhere:
            c.follower.start()
        loops = [sweep_windows, watch_credentials]
        if c.settings.retention_days:
            loops.append(purge_periodically)
        if c.settings.routing_checkpoint_seconds:
            loops.append(checkpoint_periodically)
        tasks = [asyncio.create_task(loop(c)) for loop in loops]
        poll = c.settings.outbox_poll_seconds
        tasks.append(asyncio.create_task(c.dispatcher.run_outbox(poll)))
        tasks.append(asyncio.create_task(c.dispatcher.forwarder.run(poll)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await c.limiter.aclose()
            await c.dispatcher.aclose()
            await asyncio.to_thread(c.follower.stop)
            await asyncio.to_thread(c.committer.stop)

    routes = [
        *native.routes,
        *native_routes.routes,
        *native_accounts.routes,
        *native_routing.routes,
        *native_evaluations.routes,
        *native_verify.routes,
        *plivo.routes,
        *plivo_messages.routes,
        *vonage.routes,
        *vonage_verify.routes,
        *bird.routes,
        *twilio.routes,
        *callbacks.routes,
        *dashboard.routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    served = one_route_per_path(routes)
    app = Starlette(
        routes=[*served, dashboard.static],  # (the dashboard's assets)
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        middleware=[
            Middleware(
                FastPath,
                hot=[r for r in served if isinstance(r, Route) and r.endpoint in HOT_ENDPOINTS],
                metrics=c.metrics,
                access_log=c.settings.access_log,
            ),
            Middleware(
                Instrumented,
                routes=[*served, dashboard.static],
                metrics=c.metrics,
                access_log=c.settings.access_log,
            ),
        ],
    )
    app.state.container = c
    app.state.openapi = openapi_document()
    return app


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory`` worker processes: settings from ``CONVROUTE_*``.
    The parent process has already migrated the database."""
    return create_app(bootstrap(Settings.from_env(), migrate=False))
