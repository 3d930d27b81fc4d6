"""How a message's current conversion status follows from its events.

The current status is the maximum of the events under one total order, so it does not depend
on the order in which events arrive and can be kept incrementally (``max(current, new)``):

1. a final status reported by the client outranks the window's ``not_converted``, whatever the
   times: a report that arrives after the window closed corrects it (DESIGN 2.1);
2. the window's ``not_converted`` outranks a temporary status (``incorrect_code``): a user who
   typed a wrong code and never a right one did not convert;
3. within a class, the latest event time wins; ties go to the latest received, then to the
   larger event id (ids are time-ordered).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convroute.domain.statuses import ConversionStatus, EventSource


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """The part of a conversion event that decides the current status."""

    event_id: str
    status: ConversionStatus
    source: EventSource
    event_ms: int
    received_ms: int

    @property
    def rank(self) -> tuple[int, int, int, str]:
        """The event's place in the total order described in the module docstring."""
        if self.source is EventSource.WINDOW:
            klass = 2
        elif self.status.is_final:
            klass = 3
        else:
            klass = 1
        return (klass, self.event_ms, self.received_ms, self.event_id)


def current_status(events: Iterable[StatusEvent]) -> StatusEvent | None:
    """The event that gives the message its current status, or None when there is none."""
    return max(events, key=lambda e: e.rank, default=None)


def supersedes(new: StatusEvent, current: StatusEvent | None) -> bool:
    """Whether ``new`` becomes the current status over ``current``."""
    return current is None or new.rank > current.rank
