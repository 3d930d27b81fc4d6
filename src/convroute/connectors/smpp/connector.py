"""The ``smpp`` connector: a route that is an SMSC, convroute bound to it as an ESME.

Each message goes as one ``submit_sm`` per part (GSM 03.38 or UCS-2, concatenated with a
UDH), asking for a receipt, with our message id in a vendor TLV. The SMSC's message ids are
kept (they come back in receipts); each receipt (``deliver_sm``: its TLVs or its text) is
matched to the message and recorded as a DLR."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from convroute.connectors.base import Receipt, ReceiptSink, SubmitError, eventually
from convroute.connectors.smpp.codec import MESSAGE_ID_TAG, encode_text, read_receipt, tlv
from convroute.connectors.smpp.session import Session, SmppConfig
from convroute.domain.clock import Clock
from convroute.domain.models import Submission

Resolve = Callable[[str], Awaitable[tuple[str, str] | None]]
"""The message id and account of what the SMSC calls a message (the store knows, once the
submission is recorded)."""

_REMEMBERED = 100_000  # SMSC ids this connector keeps in memory (the store keeps them all)


class SmppConnector:
    """One route's binds to its SMSC."""

    forwards_conversions = False

    def __init__(
        self,
        route_id: str,
        config: Mapping[str, Any],
        sink: ReceiptSink,
        resolve: Resolve,
        clock: Clock,
        route_name: str = "",
    ) -> None:
        self.route_id = route_id
        self.clock = clock
        self.config = SmppConfig.of(dict(config))
        self.sink = sink
        self.resolve = resolve
        self._ids: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._reference = itertools.count(1)
        if self.config.bind == "transmitter_receiver":
            self.tx = Session(self.config, "transmitter", self._delivered, route_name)
            self.sessions = [self.tx, Session(self.config, "receiver", self._delivered, route_name)]
        else:
            self.tx = Session(self.config, "transceiver", self._delivered, route_name)
            self.sessions = [self.tx]
        for session in self.sessions:
            session.start()
        self.receipts = 0
        self.unmatched = 0

    async def submit(self, message: Submission) -> Sequence[str]:
        try:
            parts = encode_text(message.text, next(self._reference))
        except ValueError as exc:
            raise SubmitError("too_long", str(exc)) from None
        alphanumeric = not message.src.lstrip("+").isdigit()
        ids: list[str] = []
        for part in parts.parts:
            upstream = await self.tx.submit(
                tlv(MESSAGE_ID_TAG, message.message_id.encode()),
                source_addr_ton=5 if alphanumeric else 1,
                source_addr_npi=0 if alphanumeric else 1,
                source_addr=message.src.lstrip("+"),
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=message.dst.lstrip("+"),
                esm_class=parts.esm_class,
                data_coding=parts.data_coding,
                registered_delivery=1,
                short_message=part,
            )
            if upstream:
                ids.append(upstream)
                self._remember(upstream, (message.message_id, message.account_id))
        return ids

    def _remember(self, upstream: str, owner: tuple[str, str]) -> None:
        self._ids[upstream] = owner
        while len(self._ids) > _REMEMBERED:
            self._ids.popitem(last=False)

    async def _delivered(self, pdu: Any) -> None:
        receipt = read_receipt(pdu)
        if receipt is None:
            return  # a mobile-originated message or a receipt that says nothing final
        upstream = receipt.upstream_id

        async def look() -> tuple[str, str] | None:
            return self._ids.get(upstream) or await self.resolve(upstream)

        owner = self._ids.get(upstream) or await eventually(look)
        if owner is None:
            self.unmatched += 1
            return
        self.receipts += 1
        message_id, account_id = owner
        await self.sink(
            Receipt(message_id, account_id, receipt.status, self.clock(), receipt.error_code)
        )

    def state(self) -> dict[str, Any]:
        """The connection as operators see it (route list, quality report, /metrics)."""
        states = [s.state for s in self.sessions]
        return {
            "state": "bound" if all(s == "bound" for s in states) else states[0],
            "binds": len(self.sessions),
            "throttled": self.tx.throttled,
            "window_in_use": self.tx.window_in_use,
            "window": self.config.window,
            "reconnects": sum(s.reconnects for s in self.sessions),
            "last_error": next((s.last_error for s in self.sessions if s.last_error), None),
        }

    async def aclose(self) -> None:
        for session in self.sessions:
            await session.close()
