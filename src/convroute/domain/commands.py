"""Commands: what a request asks the service to do, already parsed from its dialect, and
their results. Dialects build commands; ``services`` carries them out."""

from __future__ import annotations

from dataclasses import dataclass, field

from convroute.domain.models import Forward, Principal, Submission
from convroute.domain.pickling import by_fields
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, Method


@by_fields
@dataclass(frozen=True, slots=True)
class Nonce:
    """A single-use token a signed request carries (a digest of its signature): a command
    whose nonce was already used by an accepted command is refused as a replay. ``expires_ms``
    is when it may be forgotten (the request's timestamp would be refused by then anyway).
    ``earlier_key`` is the same token in a form an earlier version recorded, looked up too
    (never recorded) so that an upgrade does not open a window for replays."""

    key: str
    expires_ms: int
    earlier_key: str | None = None


@by_fields
@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send (or record as sent) one message."""

    principal: Principal
    src: str
    dst: str
    text: str
    type: MessageType
    trackable: bool
    client_ref: str | None = None
    nonce: Nonce | None = None


@by_fields
@dataclass(frozen=True, slots=True)
class RecordConversion:
    """Record one conversion report. ``type`` None means the message's own type; ``event_ms``
    None means the time of receipt."""

    principal: Principal
    message_id: str
    status: ConversionStatus
    type: MessageType | None = None
    method: Method = Method.UNKNOWN
    event_ms: int | None = None
    raw: str | None = None
    nonce: Nonce | None = None


@by_fields
@dataclass(frozen=True, slots=True)
class RecordDlr:
    """Record one delivery receipt."""

    principal: Principal
    message_id: str
    status: DlrStatus
    event_ms: int | None = None
    error_code: str | None = None
    raw: str | None = None
    nonce: Nonce | None = None  # a signed provider callback's: a replay is refused


Command = SendMessage | RecordConversion | RecordDlr
"""What a request asks for."""

WINDOW_BATCH = 1000
"""How many due windows one transaction closes (a sweep runs as many as it takes)."""


@by_fields
@dataclass(frozen=True, slots=True)
class CloseWindows:
    """Close up to ``limit`` conversion windows that are due."""

    limit: int = WINDOW_BATCH


@by_fields
@dataclass(frozen=True, slots=True)
class PurgeNonces:
    """Forget the used signature nonces whose request could no longer be accepted anyway."""


@by_fields
@dataclass(frozen=True, slots=True)
class PurgeOld:
    """Delete up to ``limit`` messages sent before ``before_ms``, with everything about them."""

    before_ms: int
    limit: int = 1000


Maintenance = CloseWindows | PurgeNonces | PurgeOld
"""What the server's periodic sweeps (and the CLI) ask for."""


@by_fields
@dataclass(frozen=True, slots=True)
class SubmissionDone:
    """A route took a message: its outbox entry goes, what the upstream calls it is kept."""

    message_id: str
    account_id: str
    route_id: str
    upstream_ids: tuple[str, ...] = ()
    forward: bool = False  # the route forwards conversions (under the first upstream id)


@by_fields
@dataclass(frozen=True, slots=True)
class SubmissionRefused:
    """A route refused a message (or could not be reached): route it again on another route
    (a failover), else retry later if the refusal may pass (``transient``), else give up."""

    message_id: str
    route_id: str
    code: str
    reason: str
    transient: bool


@by_fields
@dataclass(frozen=True, slots=True)
class ClaimSubmissions:
    """Take up to ``limit`` outbox entries that are due (after a crash, a lapsed lease or a
    back-off), leased for ``lease_ms``; expired ones are given up."""

    limit: int
    lease_ms: int


@by_fields
@dataclass(frozen=True, slots=True)
class ClaimForwards:
    """Take up to ``limit`` conversions due to be forwarded upstream, leased for ``lease_ms``."""

    limit: int
    lease_ms: int


@by_fields
@dataclass(frozen=True, slots=True)
class ForwardDone:
    """The provider took a forwarded conversion (or had no word for it): it goes."""

    forward_id: str


@by_fields
@dataclass(frozen=True, slots=True)
class ForwardFailed:
    """Forwarding a conversion failed: tried again after a back-off if ``transient`` and not
    too old, else kept as failed."""

    forward_id: str
    error: str
    transient: bool


Delivery = (
    SubmissionDone
    | SubmissionRefused
    | ClaimSubmissions
    | ClaimForwards
    | ForwardDone
    | ForwardFailed
)
"""What the dispatcher asks for as it hands messages to their routes and conversions to
their providers."""

BatchCommand = Command | Maintenance | Delivery
"""Everything the writer carries out."""


@by_fields
@dataclass(frozen=True, slots=True)
class MessageAccepted:
    """A message was durably recorded (and routed)."""

    message_id: str
    route_id: str
    route_name: str
    price: float
    country: str
    network: str | None
    sent_ms: int
    dst: str = ""  # E.164, as recorded (what a connector sends to)
    expires_ms: int = 0  # when it is no longer worth sending (its window closes)
    explored: bool = False  # the policy's favourite was another route


@by_fields
@dataclass(frozen=True, slots=True)
class ConversionRecorded:
    """A conversion report is durable. ``duplicate`` when an identical report was already."""

    conversion_id: str
    message_id: str
    status: ConversionStatus
    duplicate: bool
    route: str | None = None  # the name of the route the message went by (for metrics)
    country: str | None = None


@by_fields
@dataclass(frozen=True, slots=True)
class DlrRecorded:
    """A delivery receipt is durable."""

    dlr_id: str
    message_id: str
    status: DlrStatus
    route: str | None = None  # the name of the route the message went by (for metrics)


@by_fields
@dataclass(frozen=True, slots=True)
class WindowsClosed:
    """How many trackable messages were turned into ``not_converted``."""

    closed: int


@by_fields
@dataclass(frozen=True, slots=True)
class NoncesPurged:
    """How many used nonces were forgotten."""

    purged: int


@by_fields
@dataclass(frozen=True, slots=True)
class Purged:
    """Rows deleted, per table."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.counts.get("messages", 0)


@by_fields
@dataclass(frozen=True, slots=True)
class SubmissionCleared:
    """A message's outbox entry is gone: its route took it."""

    message_id: str


@by_fields
@dataclass(frozen=True, slots=True)
class Refusal:
    """What became of a refused message: routed again (``rerouted``: the entry to submit on
    its new route), retried at ``retry_ms`` on the same route, or given up (``gave_up``: no
    route will take it; it is no longer in the outbox). ``stale`` when the refusal came too
    late: the entry had moved on."""

    message_id: str
    rerouted: Submission | None = None
    retry_ms: int | None = None
    gave_up: bool = False
    stale: bool = False


@by_fields
@dataclass(frozen=True, slots=True)
class Claimed:
    """Outbox entries to submit now, and those given up as expired (out of the outbox)."""

    entries: tuple[Submission, ...] = ()
    expired: tuple[Submission, ...] = ()


@by_fields
@dataclass(frozen=True, slots=True)
class ForwardsClaimed:
    """Conversions to forward now."""

    entries: tuple[Forward, ...] = ()


@by_fields
@dataclass(frozen=True, slots=True)
class ForwardSettled:
    """A forward's new state: gone, due again at ``retry_ms``, or failed for good."""

    forward_id: str
    retry_ms: int | None = None
    failed: bool = False


Result = (
    MessageAccepted
    | ConversionRecorded
    | DlrRecorded
    | WindowsClosed
    | NoncesPurged
    | Purged
    | SubmissionCleared
    | Refusal
    | Claimed
    | ForwardsClaimed
    | ForwardSettled
)
"""What a command answers once it is durable."""
