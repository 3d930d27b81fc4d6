"""The policy interface every router implements (DESIGN 5.7): choose a route among candidates
for a context, with the probability of that choice; learn from outcomes that arrive late and
in any order, keyed by the decision they are about.

Randomness is injected (``random.Random``), times are given (epoch ms): a policy does no I/O
and reads no clock, so a simulation replays exactly under a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol


class Context(NamedTuple):
    """Where a message goes and what it is: the key statistics are kept under (a named tuple:
    it is hashed at every decision, and tuples hash fastest)."""

    country: str
    network: str | None = None
    traffic: str = "otp"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A route that may carry the message, with its price for this destination."""

    route_id: str
    price: float

    def __reduce__(self) -> tuple[type[Candidate], tuple[str, float]]:
        # (a frozen class: made again from its fields, also in the compiled build)
        return (Candidate, (self.route_id, self.price))


class Decision(NamedTuple):
    """What a policy chose: the route and the probability it had of being chosen."""

    decision_id: str
    route_id: str
    probability: float
    policy: str


class OutcomeKind(StrEnum):
    """What can be learned about a decision, late."""

    CONVERTED = "converted"  # reward 1
    NOT_CONVERTED = "not_converted"  # reward 0 (also the window's close, resent, expired)
    CANCELED = "canceled"  # the decision leaves the statistics
    DLR_DELIVERED = "dlr_delivered"  # a receipt: a signal, not a reward
    DLR_FAILED = "dlr_failed"


class Outcome(NamedTuple):
    """An outcome of a decision, at ``at_ms`` (the event's time, not its arrival; a named
    tuple, as ``Context``: many are built)."""

    decision_id: str
    kind: OutcomeKind
    at_ms: int


class Policy(Protocol):
    """A router."""

    name: str

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        """Pick one of ``candidates`` (never empty) for a message sent at ``now_ms``."""
        ...

    def observe(self, outcome: Outcome) -> None:
        """Learn from an outcome of an earlier decision (unknown decisions are ignored)."""
        ...

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        """The probability of each candidate being chosen now (they sum to 1)."""
        ...
