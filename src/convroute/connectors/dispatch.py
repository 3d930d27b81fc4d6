"""The dispatcher: records a send, then hands the message to its route's connector.

A message is handed over only once it is durable (the answer to the client says it is
recorded, and its routing decision with it); the submission runs in the background, so a
slow provider never holds the client's answer. A submission that fails becomes a ``failed``
receipt (its error code says why), which the router learns from at once. Connectors are
built per route from its config and rebuilt when the config changes.

Delivery is at most once: the text is not stored (OTP texts are secrets), so a message whose
submission was cut by a crash is not sent again; its window closes as ``not_converted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from convroute.connectors.base import Connector, Outbound, Receipt, SubmitError
from convroute.connectors.http import HttpConnector
from convroute.connectors.simulated import SimulatedConnector
from convroute.domain.clock import Clock
from convroute.domain.commands import DlrRecorded, MessageAccepted, RecordDlr, SendMessage
from convroute.domain.errors import ConvrouteError
from convroute.domain.models import Principal, Route
from convroute.domain.statuses import Dialect, DlrStatus, TrafficClass

log = logging.getLogger("convroute.connectors")


class Dispatcher:
    """Sends through the writer, then through the route's connector."""

    def __init__(
        self,
        record_send: Callable[[SendMessage], Awaitable[MessageAccepted]],
        record_dlr: Callable[[RecordDlr], Awaitable[DlrRecorded]],
        routes: Callable[[], list[Route]],
        clock: Clock,
        refresh_ms: int = 1000,
    ) -> None:
        # the writer's (``GroupCommitter.execute``): each answers once durable
        self._record_send = record_send
        self._record_dlr = record_dlr
        self._load_routes = routes
        self._clock = clock
        self._refresh_ms = refresh_ms
        self._routes: dict[str, Route] = {}
        self._loaded_ms = -(2**62)
        self._connectors: dict[str, tuple[str, Connector]] = {}  # route id -> (config, it)
        self._tasks: set[asyncio.Task[None]] = set()
        self.submitted = 0
        self.failed = 0
        self.receipts = 0

    async def send(self, command: SendMessage) -> MessageAccepted:
        """Record and route the message; once durable, submit it in the background."""
        accepted = await self._record_send(command)
        outbound = Outbound(
            message_id=accepted.message_id,
            account_id=command.principal.account_id,
            route_id=accepted.route_id,
            route_name=accepted.route_name,
            src=command.src.strip(),
            dst=accepted.dst,
            text=command.text,
            country=accepted.country,
            network=accepted.network,
            client_ref=command.client_ref,
            sent_ms=accepted.sent_ms,
        )
        task = asyncio.create_task(self._submit(outbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return accepted

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

    async def _submit(self, message: Outbound) -> None:
        try:
            connector = await self._connector(message.route_id)
            await connector.submit(message)
            self.submitted += 1
        except SubmitError as exc:
            self.failed += 1
            log.info("route %s did not take %s: %s", message.route_name, message.message_id, exc)
            await self.receipt(
                Receipt(
                    message.message_id,
                    message.account_id,
                    DlrStatus.FAILED,
                    self._clock(),
                    exc.code,
                )
            )
        except Exception:
            self.failed += 1
            log.exception("submitting %s over %s failed", message.message_id, message.route_name)

    async def receipt(self, receipt: Receipt) -> None:
        """Record a receipt a connector produced, as a DLR of the message's account."""
        principal = Principal(receipt.account_id, "connector", Dialect.NATIVE, TrafficClass.TWO_FA)
        try:
            await self._record_dlr(
                RecordDlr(
                    principal,
                    receipt.message_id,
                    receipt.status,
                    receipt.event_ms,
                    receipt.error_code,
                )
            )
            self.receipts += 1
        except ConvrouteError as exc:
            log.warning("a receipt for %s was not recorded: %s", receipt.message_id, exc.message)

    async def _connector(self, route_id: str) -> Connector:
        now = self._clock()
        if route_id not in self._routes or now - self._loaded_ms > self._refresh_ms:
            routes = await asyncio.to_thread(self._load_routes)
            self._routes = {r.id: r for r in routes}
            self._loaded_ms = now
        route = self._routes[route_id]
        config = json.dumps(dict(route.config), sort_keys=True)
        held = self._connectors.get(route_id)
        if held is not None and held[0] == config and _kind(held[1]) == route.connector:
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
        return SimulatedConnector(route.name, route.config, self.receipt)

    async def aclose(self) -> None:
        """Let submissions under way finish (briefly), then close every connector."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for _, connector in self._connectors.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        self._connectors.clear()


def _kind(connector: Connector) -> str:
    return "http" if isinstance(connector, HttpConnector) else "simulated"
