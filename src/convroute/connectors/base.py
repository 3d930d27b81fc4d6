"""The connector interface, and the values that cross it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from convroute.domain.statuses import DlrStatus


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to hand to a route: what was recorded, plus its text (never stored)."""

    message_id: str
    account_id: str
    route_id: str
    route_name: str
    src: str
    dst: str  # E.164 with "+"
    text: str
    country: str
    network: str | None
    client_ref: str | None
    sent_ms: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt a connector produced for a message."""

    message_id: str
    account_id: str
    status: DlrStatus
    event_ms: int
    error_code: str | None = None


ReceiptSink = Callable[[Receipt], Awaitable[None]]
"""Where a connector hands the receipts it produces (the dispatcher records them)."""


class SubmitError(Exception):
    """The route refused or failed to take the message; ``code`` goes into the DLR."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Connector(Protocol):
    """One route's way out."""

    async def submit(self, message: Outbound) -> None:
        """Hand the message over; SubmitError when the route did not take it."""
        ...

    async def aclose(self) -> None:
        """Release what the connector holds (connections, scheduled receipts)."""
        ...
