"""The dispatcher: records a send, then hands the message to its route's connector.

A message is handed over only once it is durable (the answer to the client says it is
recorded, its routing decision and its outbox entry with it); the submission runs in the
background, so a slow provider never holds the client's answer. Delivery is at least once:
the outbox entry (its text encrypted) goes only when the route took the message; an entry
left by a crash is claimed again once its lease lapses (``resume``, every second), until the
message's window closes. A route that refuses the message hands it to the next-best route
(a failover, decided by the writer: ``services/delivery.py``); when none is left it becomes
a ``failed`` receipt (its error code says why), which the router learns from at once.
Connectors are built per route from its config and rebuilt when the config changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from convroute.connectors.base import Connector, Receipt, SubmitError
from convroute.connectors.forwarder import Forwarder
from convroute.connectors.http import HttpConnector
from convroute.connectors.providers.connector import PROVIDERS, ProviderConnector
from convroute.connectors.simulated import Handsets, SimulatedConnector
from convroute.connectors.smpp.connector import SmppConnector
from convroute.domain.capacity import Capacity
from convroute.domain.clock import Clock
from convroute.domain.commands import (
    BatchCommand,
    Claimed,
    ClaimSubmissions,
    MessageAccepted,
    Nonce,
    RecordDlr,
    Refusal,
    Result,
    SendMessage,
    SubmissionDone,
    SubmissionRefused,
)
from convroute.domain.errors import ConvrouteError
from convroute.domain.models import Principal, Route, Submission
from convroute.domain.statuses import Dialect, DlrStatus, TrafficClass
from convroute.observe.metrics import Metrics
from convroute.services.delivery import LEASE_MS

log = logging.getLogger("convroute.connectors")


class Dispatcher:
    """Sends through the writer, then through the route's connector; resumes the outbox."""

    def __init__(
        self,
        execute: Callable[[BatchCommand], Awaitable[Result]],
        routes: Callable[[], list[Route]],
        clock: Clock,
        refresh_ms: int = 1000,
        lease_ms: int = LEASE_MS,
        upstream: Callable[[str, str], tuple[str, str] | None] | None = None,
        public_url: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.public_url = public_url  # what providers call back (``/callbacks/{route_id}``)
        # the store's: the message (and account) an upstream's id names on a route
        self._upstream = upstream
        self._execute = execute  # the writer's (``GroupCommitter.execute``): answers once durable
        self._load_routes = routes
        self._clock = clock
        self._refresh_ms = refresh_ms
        self._lease_ms = lease_ms
        self._routes: dict[str, Route] = {}
        self._loaded_ms = -(2**62)
        self._connectors: dict[str, tuple[str, Connector]] = {}  # route id -> (kind+config, it)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()  # message ids this instance is submitting
        self.forwarder = Forwarder(execute, self.connector, self._name, self.metrics)
        self.pacer = Capacity()  # each capped route's submits, kept to its mps
        self.handsets = Handsets()  # what the simulated routes delivered (the demo's phones)
        self.submitted = 0
        self.failed = 0
        self.receipts = 0
        self.failovers = 0
        self.resumed = 0  # outbox entries claimed again (a crash, a lapsed lease, a retry)
        self.expired = 0  # outbox entries whose time ran out before any route took them

    async def send(self, command: SendMessage) -> MessageAccepted:
        """Record and route the message (its outbox entry in the same commit); once durable,
        submit it in the background."""
        accepted = await self._execute(command)
        assert isinstance(accepted, MessageAccepted)
        outbound = Submission(
            message_id=accepted.message_id,
            account_id=command.principal.account_id,
            route_id=accepted.route_id,
            src=command.src.strip(),
            dst=accepted.dst,
            text=command.text,
            country=accepted.country,
            network=accepted.network,
            client_ref=command.client_ref,
            sent_ms=accepted.sent_ms,
            expires_ms=accepted.expires_ms,
        )
        self._spawn(outbound)
        return accepted

    def _spawn(self, outbound: Submission) -> None:
        self._in_flight.add(outbound.message_id)
        task = asyncio.create_task(self._submit(outbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_all(
        self, commands: list[SendMessage]
    ) -> tuple[list[MessageAccepted], list[tuple[SendMessage, ConvrouteError]]]:
        """Send several messages at once (a bulk send): those recorded, and those refused
        with why; if none was recorded, the first refusal is raised (nothing was sent)."""
        outcomes = await asyncio.gather(*(self.send(c) for c in commands), return_exceptions=True)
        sent: list[MessageAccepted] = []
        refused: list[tuple[SendMessage, ConvrouteError]] = []
        for command, outcome in zip(commands, outcomes, strict=True):
            if isinstance(outcome, MessageAccepted):
                sent.append(outcome)
            elif isinstance(outcome, ConvrouteError):
                refused.append((command, outcome))
            else:  # not ours to translate (the writer translates the store's): a bug
                raise outcome
        if not sent and refused:
            raise refused[0][1]
        return sent, refused

    async def _submit(self, message: Submission) -> None:
        """Hand the message to its route; on a refusal, to the next route the writer picks
        (a failover), until one takes it or none is left."""
        try:
            while True:
                try:
                    connector = await self.connector(message.route_id)
                    await self._pace(message.route_id)
                    ids = await connector.submit(message)
                except SubmitError as exc:
                    self.metrics.failed.labels(self._name(message.route_id), exc.code).inc()
                    log.info(
                        "route %s did not take %s: %s: %s",
                        self._name(message.route_id),
                        message.message_id,
                        exc.code,
                        exc.message,
                    )
                    refusal = await self._execute(
                        SubmissionRefused(
                            message.message_id, message.route_id, exc.code, exc.message,
                            exc.transient,
                        )
                    )  # fmt: skip
                    assert isinstance(refusal, Refusal)
                    if refusal.rerouted is None:
                        if refusal.gave_up:
                            self.failed += 1
                            await self._failed(message, DlrStatus.FAILED, exc.code)
                        return  # (a retry: the outbox has it, due later)
                    self.failovers += 1
                    self.metrics.failovers.labels(self._name(message.route_id)).inc()
                    message = dataclasses.replace(
                        refusal.rerouted, sent_ms=self._clock()
                    )  # out now
                    continue
                done = SubmissionDone(
                    message.message_id,
                    message.account_id,
                    message.route_id,
                    tuple(ids),
                    forward=connector.forwards_conversions,
                )
                await self._execute(done)
                self.submitted += 1
                self.metrics.submitted.labels(self._name(message.route_id)).inc()
                return
        except Exception:  # the entry stays in the outbox: claimed again once its lease ends
            log.exception(
                "submitting %s over %s failed", message.message_id, self._name(message.route_id)
            )
        finally:
            self._in_flight.discard(message.message_id)

    async def _pace(self, route_id: str) -> None:
        """Wait for the route's token (its ``mps`` cap); a route so far behind that the wait
        would outlast the lease refuses the message instead (it fails over)."""
        route = self._routes.get(route_id)
        if route is None:
            return
        wait_ms = self.pacer.take(route, self._clock())
        if wait_ms > self._lease_ms // 3:
            raise SubmitError(
                "saturated", f"the route is {wait_ms} ms behind its cap", transient=True
            )
        if wait_ms:
            await asyncio.sleep(wait_ms / 1000)

    async def resume(self, limit: int = 200) -> int:
        """Claim the outbox entries that are due (left by a crash, a lapsed lease or a
        back-off) and submit them; give up those whose time ran out. How many were claimed."""
        claimed = await self._execute(ClaimSubmissions(limit, self._lease_ms))
        assert isinstance(claimed, Claimed)
        for entry in claimed.expired:
            self.expired += 1
            self.metrics.expired.inc()
            await self._failed(entry, DlrStatus.EXPIRED, "expired")
        for entry in claimed.entries:
            if entry.message_id in self._in_flight:
                continue
            self.resumed += 1
            self.metrics.resumed.inc()
            self._spawn(entry)
        return len(claimed.entries) + len(claimed.expired)

    async def run_outbox(self, every_s: float = 1.0) -> None:
        """Resume the outbox every ``every_s`` seconds, for as long as the server runs."""
        while True:
            try:
                while await self.resume() >= 200:
                    pass
            except ConvrouteError as exc:
                log.warning("the outbox could not be read: %s", exc.message)
            self.observe()
            await asyncio.sleep(every_s)

    async def _failed(self, message: Submission, status: DlrStatus, code: str) -> None:
        """No route took the message: its receipt says so (the router learns from it)."""
        await self.receipt(
            Receipt(message.message_id, message.account_id, status, self._clock(), code)
        )

    async def receipt(self, receipt: Receipt) -> None:
        """Record a receipt a connector produced, as a DLR of the message's account."""
        try:
            await self.record(
                receipt.message_id,
                receipt.account_id,
                receipt.status,
                receipt.error_code,
                event_ms=receipt.event_ms,
            )
        except ConvrouteError as exc:
            log.warning("a receipt for %s was not recorded: %s", receipt.message_id, exc.message)

    async def record(
        self,
        message_id: str,
        account_id: str,
        status: DlrStatus,
        error_code: str | None,
        *,
        event_ms: int | None = None,
        raw: str | None = None,
        nonce: Nonce | None = None,
    ) -> None:
        """Record a receipt as a DLR of the message's account; answers once it is durable."""
        principal = Principal(account_id, "connector", Dialect.NATIVE, TrafficClass.TWO_FA)
        await self._execute(
            RecordDlr(principal, message_id, status, event_ms, error_code, raw=raw, nonce=nonce)
        )
        self.receipts += 1

    async def route(self, route_id: str) -> Route | None:
        """The route ``route_id`` as last loaded (at most ``refresh_ms`` old)."""
        return (await self._routes_now(route_id)).get(route_id)

    def _name(self, route_id: str) -> str:
        route = self._routes.get(route_id)
        return route.name if route else route_id

    async def _routes_now(self, route_id: str | None = None) -> dict[str, Route]:
        now = self._clock()
        if route_id not in self._routes or now - self._loaded_ms > self._refresh_ms:
            routes = await asyncio.to_thread(self._load_routes)
            self._routes = {r.id: r for r in routes}
            self._loaded_ms = now
        return self._routes

    async def connector(self, route_id: str) -> Connector:
        """The route's connector, built from its config (again when the config changed)."""
        route = (await self._routes_now(route_id)).get(route_id)
        if route is None:
            raise SubmitError("no_route", "the route was deleted")
        config = route.connector + json.dumps(dict(route.config), sort_keys=True)
        held = self._connectors.get(route_id)
        if held is not None and held[0] == config:
            return held[1]
        if held is not None:
            await held[1].aclose()
        connector = self.build(route)
        self._connectors[route_id] = (config, connector)
        return connector

    def build(self, route: Route) -> Connector:
        """A connector for ``route``, from its config."""
        if route.connector == "http":
            return HttpConnector(route.config)
        if route.connector == "smpp":

            async def resolve(upstream_id: str) -> tuple[str, str] | None:
                if self._upstream is None:
                    return None
                return await asyncio.to_thread(self._upstream, route.id, upstream_id)

            return SmppConnector(
                route.id, route.config, self.receipt, resolve, self._clock, route.name
            )
        if route.connector in PROVIDERS:
            provider = PROVIDERS[route.connector]
            return ProviderConnector(provider, route.id, route.config, self.public_url)
        return SimulatedConnector(route.name, route.config, self.receipt, self.handsets)

    def states(self) -> dict[str, dict[str, Any]]:
        """Each live connector's connection state, by route id (for operators)."""
        return {route_id: c.state() for route_id, (_, c) in self._connectors.items()}

    def observe(self) -> None:
        """Set the connector gauges (by route name) from the connections as they are now."""
        self.metrics.connections({self._name(r): s for r, s in self.states().items()})

    async def aclose(self) -> None:
        """Let submissions under way finish (briefly), then close every connector."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for _, connector in self._connectors.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        self._connectors.clear()
