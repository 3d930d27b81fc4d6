"""The ports the use cases need from storage. The SQL store implements them; a test double
would be a plain class."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from convroute.domain.commands import Nonce
from convroute.domain.destinations import Destination
from convroute.domain.ids import new_id
from convroute.domain.models import (
    Account,
    AccountRouting,
    ConversionEvent,
    Credential,
    DlrEvent,
    Forward,
    Message,
    MessageState,
    Route,
    Submission,
)
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
    DlrStatus,
    MessageType,
    TrafficClass,
)
from convroute.routing.static import Choice


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """A logged routing decision (DESIGN 5.5: its probability makes offline evaluation possible)."""

    id: str
    message_id: str
    account_id: str
    route_id: str
    policy: str
    probability: float
    candidates: tuple[tuple[str, float], ...]
    decided_ms: int
    attempt: int = 0  # a failover's: 1, 2, ... (the message's earlier routes refused it)
    reason: str | None = None  # why a failover was needed, or why candidates were left out
    probabilities: tuple[float, ...] = ()  # every candidate's, where the policy said them

    @classmethod
    def of(
        cls,
        choice: Choice,
        message_id: str,
        account_id: str,
        now_ms: int,
        attempt: int = 0,
        reason: str | None = None,
    ) -> RoutingDecision:
        """The decision ``choice`` made for a message, to log (its reason, unless given)."""
        return cls(
            id=new_id(now_ms),
            message_id=message_id,
            account_id=account_id,
            route_id=choice.route.id,
            policy=choice.policy,
            probability=choice.probability,
            candidates=choice.candidates,
            decided_ms=now_ms,
            attempt=attempt,
            reason=choice.reason if reason is None else reason,
            probabilities=choice.probabilities,
        )


@dataclass(frozen=True, slots=True)
class EarlierSend:
    """The latest message sent with a client reference: its route and current status."""

    route_id: str
    status: ConversionStatus | None


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a batch of reports reads of the messages it is about, in one read."""

    # by (account_id, message_id): a pair whose message is another account's is left out
    states: dict[tuple[str, str], MessageState]
    # message id -> (the name of the route it went by, its country), for metrics
    routes: dict[str, tuple[str, str]]
    # message id -> (route id, upstream id): the latest a forwarding route took it under
    forwards: dict[str, tuple[str, str]]


class WriteTransaction(Protocol):
    """Bulk reads and writes inside one transaction: one call serves a whole batch."""

    def enabled_routes(self) -> list[Route]:
        """Every enabled route with its destinations."""
        ...

    def window_overrides(self, account_ids: Collection[str]) -> dict[str, dict[MessageType, int]]:
        """Each account's conversion-window overrides, in seconds."""
        ...

    def load_states(self, keys: Collection[tuple[str, str]]) -> Loaded:
        """The states of the messages named by (account_id, message_id), their routes and
        their forward targets (``Loaded``): a pair whose message belongs to another account
        is left out, whatever else the batch asks. One read."""
        ...

    def existing_conversions(
        self, keys: Collection[str]
    ) -> dict[str, tuple[str, ConversionStatus]]:
        """Already stored events by dedupe key: their id and status."""
        ...

    def recent_by_client_ref(
        self, refs: Collection[tuple[str, str]], since_ms: int
    ) -> dict[tuple[str, str], EarlierSend]:
        """For each (account_id, client_ref), the latest message sent since ``since_ms``."""
        ...

    def due_windows(self, now_ms: int, limit: int) -> list[MessageState]:
        """Trackable messages whose window has closed without a final status."""
        ...

    def claim_nonces(self, nonces: Sequence[Nonce]) -> set[str]:
        """Record the keys of ``nonces`` (each key once) as used; the keys recorded now, those
        neither used already (and not yet expired) nor used in their earlier form. A key
        another transaction is recording counts as used once that transaction commits."""
        ...

    def release_nonces(self, keys: Collection[str]) -> None:
        """Forget keys this transaction claimed for commands that were then refused."""
        ...

    def purge_nonces(self, now_ms: int) -> int:
        """Forget nonces that have expired; how many."""
        ...

    def insert_messages(self, messages: Sequence[Message]) -> None: ...

    def insert_decisions(self, decisions: Sequence[RoutingDecision]) -> None: ...

    def insert_conversions(self, events: Sequence[ConversionEvent]) -> None: ...

    def insert_dlrs(self, events: Sequence[DlrEvent]) -> None: ...

    def insert_states(self, states: Sequence[MessageState], now_ms: int) -> None: ...

    def update_states(self, states: Sequence[MessageState], now_ms: int) -> None: ...

    def purge_messages(self, before_ms: int, limit: int) -> dict[str, int]:
        """Delete up to ``limit`` of the oldest messages sent before ``before_ms`` (not those
        whose window is open) with everything about them; rows deleted per table."""
        ...

    # -- delivery: the outbox and the upstream's ids ---------------------------------------

    def insert_submissions(self, entries: Sequence[Submission], due_ms: int) -> None:
        """Add messages to the outbox, leased until ``due_ms`` (their sender submits them)."""
        ...

    def claim_submissions(self, now_ms: int, limit: int, lease_ms: int) -> list[Submission]:
        """Up to ``limit`` entries due by ``now_ms``, leased to the caller for ``lease_ms``
        (their ``tries`` counted); expired entries included (the caller gives them up)."""
        ...

    def submission(self, message_id: str) -> Submission | None:
        """The outbox entry of a message, if it has one."""
        ...

    def delete_submissions(self, message_ids: Collection[str]) -> None: ...

    def reschedule_submission(self, message_id: str, due_ms: int, error: str) -> None:
        """Try the entry again at ``due_ms`` (a back-off), remembering why it failed."""
        ...

    def reroute_submission(self, entry: Submission, due_ms: int) -> None:
        """The entry goes out on ``entry.route_id`` now, as decision ``entry.attempt``; the
        message's route becomes that route."""
        ...

    def insert_upstream_ids(
        self,
        route_id: str,
        message_id: str,
        account_id: str,
        ids: Sequence[str],
        now_ms: int,
        forward: bool = False,
    ) -> None:
        """What ``route_id``'s upstream calls the message (several for a long message); with
        ``forward``, the message's conversions are forwarded to it under the first."""
        ...

    def routing_of(
        self, message_id: str
    ) -> tuple[Destination, MessageType, TrafficClass, AccountRouting] | None:
        """Where a message goes and what it is, as it was routed, and its account's routing
        (a failover keeps to the routes the account allows)."""
        ...

    def message_of_upstream(self, route_id: str, upstream_id: str) -> tuple[str, str] | None:
        """(message id, account id) of what ``route_id``'s upstream calls ``upstream_id``."""
        ...

    def insert_forwards(self, entries: Sequence[Forward], now_ms: int) -> None:
        """Conversions to forward upstream, due at once."""
        ...

    def claim_forwards(self, now_ms: int, limit: int, lease_ms: int) -> list[Forward]:
        """Up to ``limit`` forwards due by ``now_ms``, leased for ``lease_ms``."""
        ...

    def forward_entry(self, forward_id: str) -> Forward | None: ...

    def delete_forwards(self, ids: Collection[str]) -> None: ...

    def reschedule_forward(self, forward_id: str, due_ms: int | None, error: str) -> None:
        """Try it again at ``due_ms``; None: it failed for good (kept, counted)."""
        ...


class CredentialLookup(Protocol):
    """Finds a live credential and its account by dialect and key id."""

    def __call__(self, dialect: Dialect, key_id: str) -> tuple[Credential, Account] | None: ...


WindowOverrides = Mapping[MessageType, int]


# -- the event log, as the live router reads it back --------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """A routing decision as the log holds it, with what its context is made of."""

    message_id: str
    route_id: str
    country: str
    network: str | None
    type: MessageType
    traffic_class: TrafficClass
    sent_ms: int  # when this decision sent it (a failover's: when it was routed again)
    attempt: int = 0  # 0, or the failover's number


@dataclass(frozen=True, slots=True)
class LoggedRow:
    """One logged decision and its message's outcome."""

    message_id: str
    attempt: int
    country: str
    network: str | None
    type: str
    traffic_class: str
    route_id: str
    policy: str
    probability: float
    # (route id, price, probability or None where the log predates every candidate's)
    candidates: tuple[tuple[str, float, float | None], ...]
    decided_ms: int
    status: str | None  # the message's current status (None: none yet)
    final: bool
    status_ms: int | None
    dlr_status: str | None
    dlr_ms: int | None


@dataclass(frozen=True, slots=True)
class LoggedConversion:
    """A conversion event (a client's report or a window close) as the log holds it."""

    message_id: str
    status: ConversionStatus
    event_ms: int


@dataclass(frozen=True, slots=True)
class LoggedDlr:
    """A delivery receipt as the log holds it."""

    message_id: str
    status: DlrStatus
    event_ms: int


@dataclass(frozen=True, slots=True)
class LogBatch:
    """What the log gained since the last read. Every outcome's decision is in this batch or
    an earlier one (the store reads outcomes before decisions, so none can be missed)."""

    decisions: Sequence[LoggedDecision] = ()
    conversions: Sequence[LoggedConversion] = ()
    dlrs: Sequence[LoggedDlr] = ()

    def __len__(self) -> int:
        return len(self.decisions) + len(self.conversions) + len(self.dlrs)

    def between(self, after_ms: float, until_ms: float) -> LogBatch:
        """The decisions sent and the outcomes that happened after ``after_ms`` and by
        ``until_ms``: what the log gained over that time (benchmarks and tests cut logs)."""
        return LogBatch(
            [d for d in self.decisions if after_ms < d.sent_ms <= until_ms],
            [c for c in self.conversions if after_ms < c.event_ms <= until_ms],
            [r for r in self.dlrs if after_ms < r.event_ms <= until_ms],
        )


class EventLog(Protocol):
    """The event log as the router reads it (the store implements it)."""

    def poll(self, now_ms: int) -> LogBatch:
        """Everything appended since the previous call (the first call: the last
        ``horizon`` of the log, enough to rebuild the router's state)."""
        ...

    def position(self) -> dict[str, Any]:
        """Where the reads so far stand (plain JSON values): what a checkpoint keeps."""
        ...

    def resume(self, position: Mapping[str, Any]) -> None:
        """Read on from ``position`` (before the first ``poll``): only what came after it."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The router's state as of ``position`` in the log, for ``routing_key`` (the routing
    code and settings it was made with), signed with the service's key (``digest``)."""

    routing_key: str
    created_ms: int
    position: Mapping[str, Any]
    applied: int  # log entries applied to make it
    digest: str
    state: bytes


class Checkpoints(Protocol):
    """Where checkpoints of the router are kept (the store implements it)."""

    def latest_checkpoint(self, routing_key: str) -> Checkpoint | None: ...

    def checkpoint_made(self, routing_key: str) -> int | None:
        """When the latest checkpoint of ``routing_key`` was made (None: there is none)."""
        ...

    def save_checkpoint(self, checkpoint: Checkpoint, keep: int = 2) -> None:
        """Keep ``checkpoint`` and the ``keep`` - 1 before it of its routing key."""
        ...


@dataclass(frozen=True, slots=True)
class Activity:
    """What the log shows of one route's messages over one recent window."""

    sent: int = 0
    final: int = 0  # with a final conversion status
    converted: int = 0
    receipts: int = 0  # with a receipt
    delivered: int = 0  # whose receipt says delivered

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.final if self.final else None

    @property
    def dlr_delivered_rate(self) -> float | None:
        return self.delivered / self.receipts if self.receipts else None
