"""The connector interface, and the values that cross it (a connector is handed an outbox
entry, ``domain.models.Submission``: the message as recorded, with its text)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from convroute.domain.models import Submission
from convroute.domain.statuses import DlrStatus


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
    """The route refused or failed to take the message; ``code`` says why (it goes into
    the failover decision's reason, or the DLR when no route takes it). ``transient`` when it
    may pass (unreachable, throttled): with no other route, the same one is tried again."""

    def __init__(self, code: str, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


class Connector(Protocol):
    """One route's way out."""

    forwards_conversions: bool  # conversions of what it took go to its upstream too

    async def submit(self, message: Submission) -> Sequence[str]:
        """Hand the message over: what the upstream calls it (its message ids: several for a
        long message, none if it says nothing); SubmitError when the route did not take it.
        The message carries our id, so an upstream that deduplicates sees a resend as one."""
        ...

    def state(self) -> dict[str, Any]:
        """The connection as operators see it (``state``: ready, bound, reconnecting...)."""
        ...

    async def aclose(self) -> None:
        """Release what the connector holds (connections, scheduled receipts)."""
        ...


READY: dict[str, Any] = {"state": "ready"}
"""The state of a connector that holds no connection of its own."""

T = TypeVar("T")


async def eventually(look: Callable[[], Awaitable[T | None]]) -> T | None:
    """What ``look`` finds, looking again a few times over about 2 s: a receipt may arrive
    while the submission that names its message is still committing."""
    for wait in (0.0, 0.2, 0.5, 1.0):
        await asyncio.sleep(wait)
        if (found := await look()) is not None:
            return found
    return None
