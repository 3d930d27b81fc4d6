"""The ``simulated`` connector: a carrier of a scenario file.

For each message it works out the message's fate (``sim/carrier.py``) at the scenario time
of its sending — ``(sent - epoch_ms) * speed`` seconds — from draws derived from the message
id and the config's ``seed``, and sends the receipt the scenario's route would send, when it
would send it (divided by ``speed``). Whether the user converts is not its business: the
customer reports that (``convroute simulate --against`` plays the customer, and derives the
same fate from the same message id). A route without a ``scenario`` accepts every message
and sends no receipt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from convroute.connectors.base import READY, Receipt, ReceiptSink, SubmitError
from convroute.domain.models import Submission
from convroute.domain.statuses import DlrStatus
from convroute.sim.carrier import Draws, fate
from convroute.sim.scenario import Scenario, load, place_of


class Handsets:
    """The phones of the simulated routes' numbers: the texts those routes delivered, the
    last ``per_number`` for each of the last ``numbers`` numbers, in this process. Where the
    routes are simulated (the demo), the message is the only place a Verify code shows up:
    the operator reads it here (``GET /api/v1/simulated/handsets/{number}``), as a user reads
    a phone. A real route's texts are never kept."""

    def __init__(self, numbers: int = 1000, per_number: int = 20) -> None:
        self._numbers, self._per = numbers, per_number
        self._texts: OrderedDict[str, deque[tuple[int, str, str, str]]] = OrderedDict()

    def deliver(self, number: str, arrives_ms: int, message_id: str, route: str, text: str) -> None:
        box = self._texts.pop(number, None) or deque(maxlen=self._per)
        box.append((arrives_ms, message_id, route, text))
        self._texts[number] = box  # the most recent number last
        while len(self._texts) > self._numbers:
            self._texts.popitem(last=False)

    def read(self, number: str, now_ms: int) -> list[tuple[int, str, str, str]]:
        """What has arrived on ``number`` by ``now_ms``, oldest first."""
        return sorted(m for m in self._texts.get(number, ()) if m[0] <= now_ms)


@lru_cache(maxsize=16)
def _scenario(path: str) -> Scenario:
    return load(path)


class SimulatedConnector:
    """A scenario's route as a carrier."""

    forwards_conversions = False

    def __init__(
        self,
        route_name: str,
        config: Mapping[str, Any],
        sink: ReceiptSink,
        handsets: Handsets | None = None,
    ) -> None:
        self.sink, self.handsets, self.route_name = sink, handsets, route_name
        self.scenario = _scenario(config["scenario"]) if config.get("scenario") else None
        self.route = None
        if self.scenario is not None:
            name = config.get("route", route_name)
            self.route = next((r for r in self.scenario.routes if r.name == name), None)
            if self.route is None:
                raise ValueError(f"route {name!r} is not in scenario {self.scenario.name}")
        self.seed = int(config.get("seed", 0))
        self.speed = float(config.get("speed", 1.0))
        self.epoch_ms: int | None = config.get("epoch_ms")
        self._pending: set[asyncio.Task[None]] = set()

    def scenario_time(self, sent_ms: int) -> float:
        """Scenario seconds at ``sent_ms`` (the first message starts the clock without an
        ``epoch_ms``)."""
        if self.epoch_ms is None:
            self.epoch_ms = sent_ms
        return (sent_ms - self.epoch_ms) / 1000.0 * self.speed

    async def submit(self, message: Submission) -> Sequence[str]:
        if self.scenario is None or self.route is None:
            self._handset(message, message.sent_ms)
            return ()
        t = self.scenario_time(message.sent_ms)
        f = fate(
            self.scenario,
            self.route,
            place_of(message.country, message.network),
            t,
            Draws.of_message(self.seed, message.message_id),
        )
        if not f.submitted:
            raise SubmitError("submit_error", f"route {self.route.name} refused the message")
        if f.delivered:  # (a message the scenario does not deliver never shows up)
            self._handset(message, message.sent_ms)
        if f.receipt is None:
            return ()
        status = DlrStatus.DELIVERED if f.receipt == "delivered" else DlrStatus.FAILED
        wait_s = f.receipt_after_s / self.speed
        receipt = Receipt(
            message.message_id,
            message.account_id,
            status,
            message.sent_ms + int(wait_s * 1000),
            None if f.delivered or status is DlrStatus.DELIVERED else "undelivered",
        )
        task = asyncio.create_task(self._later(wait_s, receipt))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return ()

    def _handset(self, message: Submission, arrives_ms: int) -> None:
        if self.handsets is not None:
            self.handsets.deliver(
                message.dst, arrives_ms, message.message_id, self.route_name, message.text
            )

    async def _later(self, wait_s: float, receipt: Receipt) -> None:
        await asyncio.sleep(wait_s)
        await self.sink(receipt)

    def state(self) -> dict[str, Any]:
        return READY

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
