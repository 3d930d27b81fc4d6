"""The forwarder: reports the conversions the writer queued (``services/forwarding.py``) to
the provider each message went out through, every ``every_s`` seconds and at most
``parallel`` at a time. A forward the provider took goes; one it could not take now (it did
not answer, it is busy) backs off; one it refused (a 4xx) is kept as failed. A forward whose
route no longer forwards (deleted, turned off, no longer a provider) goes unsent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from convroute.connectors.base import Connector, SubmitError
from convroute.connectors.providers.connector import ProviderConnector
from convroute.domain.commands import (
    BatchCommand,
    ClaimForwards,
    ForwardDone,
    ForwardFailed,
    ForwardsClaimed,
    Result,
)
from convroute.domain.errors import ConvrouteError
from convroute.domain.models import Forward
from convroute.observe.metrics import Metrics
from convroute.services.forwarding import FORWARD_LEASE_MS

log = logging.getLogger("convroute.connectors")


class Forwarder:
    """Claims due forwards and reports them, through each route's connector."""

    def __init__(
        self,
        execute: Callable[[BatchCommand], Awaitable[Result]],
        connector: Callable[[str], Awaitable[Connector]],
        name: Callable[[str], str],
        metrics: Metrics,
        lease_ms: int = FORWARD_LEASE_MS,
        parallel: int = 10,
    ) -> None:
        self._name = name  # a route's name, by id
        self._metrics = metrics
        self._execute = execute
        self._connector = connector
        self._lease_ms = lease_ms
        self._slots = asyncio.Semaphore(parallel)
        self.forwarded = 0  # conversions a provider took
        self.failures = 0  # tries that failed (each retried or kept as failed)
        self.skipped = 0  # forwards with nothing to send (no word for the status, route gone)

    async def forward_due(self, limit: int = 100) -> int:
        """Report the forwards that are due; how many were claimed."""
        claimed = await self._execute(ClaimForwards(limit, self._lease_ms))
        assert isinstance(claimed, ForwardsClaimed)
        await asyncio.gather(*(self._one(f) for f in claimed.entries))
        return len(claimed.entries)

    async def _one(self, forward: Forward) -> None:
        async with self._slots:
            try:
                try:
                    connector = await self._connector(forward.route_id)
                    sent = (
                        isinstance(connector, ProviderConnector)
                        and connector.forwards_conversions
                        and await connector.forward(forward)
                    )
                except SubmitError as exc:
                    self.failures += 1
                    self._metrics.forward_failures.labels(self._name(forward.route_id)).inc()
                    log.info("forwarding %s failed: %s: %s", forward.id, exc.code, exc.message)
                    await self._execute(
                        ForwardFailed(forward.id, f"{exc.code}: {exc.message}", exc.transient)
                    )
                    return
                if sent:
                    self.forwarded += 1
                    self._metrics.forwarded.labels(self._name(forward.route_id)).inc()
                else:
                    self.skipped += 1
                await self._execute(ForwardDone(forward.id))
            except Exception:  # kept: claimed again once its lease lapses
                log.exception("forwarding %s failed", forward.id)

    async def run(self, every_s: float = 1.0) -> None:
        """Forward what is due every ``every_s`` seconds, for as long as the server runs."""
        while True:
            try:
                while await self.forward_due() >= 100:
                    pass
            except ConvrouteError as exc:
                log.warning("the forwards could not be read: %s", exc.message)
            await asyncio.sleep(every_s)
