"""The domain's values: accounts, credentials, routes, messages and their events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from convroute.domain.destinations import Destination
from convroute.domain.folding import StatusEvent
from convroute.domain.pickling import by_fields
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
    DlrStatus,
    EventSource,
    MessageType,
    Method,
    TrafficClass,
)


class SignatureMethod(StrEnum):
    """Vonage signature methods: ``md5hash`` is md5(params + secret); the others are HMACs."""

    MD5HASH = "md5hash"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"


@by_fields
@dataclass(frozen=True, slots=True)
class AccountRouting:
    """An account's own routing (DESIGN 5.4): the objective its sends are valued by, and the
    routes they may take. Every account learns from the same evidence; only the valuation and
    the candidates differ. ``goal`` None: the installation's objective (``lam`` and
    ``epsilon`` then unused); ``allow`` empty: every route; ``forbid``: never these (route
    ids, both)."""

    goal: str | None = None  # conversions | value | cheapest-within
    lam: float = 0.0  # value per currency unit, for value
    epsilon: float = 0.02  # tolerated conversion-rate loss, for cheapest-within
    allow: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()

    def permits(self, route_id: str) -> bool:
        """Whether the account's messages may take the route."""
        if route_id in self.forbid:
            return False
        return not self.allow or route_id in self.allow


DEFAULT_ROUTING = AccountRouting()


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant."""

    id: str
    name: str
    created_ms: int
    conversions_enabled: bool = True
    rate_limit_per_second: float | None = None  # None: the installation's default
    routing: AccountRouting = DEFAULT_ROUTING


@dataclass(frozen=True, slots=True)
class Credential:
    """One way to authenticate as an account, in one dialect.

    ``key_id`` is the public half (Plivo auth_id, Vonage api_key) or, for bearer-style keys
    (native token, Bird access key), the SHA-256 of the key. ``secret_hash`` is the SHA-256 of
    the secret half. ``signature_secret`` is the Vonage signing secret in clear, as decrypted
    by the store; it never leaves the process.
    """

    id: str
    account_id: str
    dialect: Dialect
    key_id: str
    secret_hash: str
    traffic_class: TrafficClass
    created_ms: int
    workspace_id: str | None = None
    signature_method: SignatureMethod | None = None
    signature_secret: str | None = field(default=None, repr=False)
    revoked_ms: int | None = None  # stops working then (revoked, or rotated with an overlap)

    def live_at(self, now_ms: int) -> bool:
        """Whether the credential still works at ``now_ms``."""
        return self.revoked_ms is None or now_ms < self.revoked_ms


@by_fields
@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the account behind an authenticated request, and how it authenticated."""

    account_id: str
    credential_id: str
    dialect: Dialect
    traffic_class: TrafficClass
    conversions_enabled: bool = True
    workspace_id: str | None = None
    rate_limit_per_second: float | None = None
    routing: AccountRouting = DEFAULT_ROUTING


@dataclass(frozen=True, slots=True)
class RouteDestination:
    """A destination a route serves and its price there. ``country`` may be ``*`` (anywhere)."""

    country: str
    price: float
    network: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """An upstream way to deliver messages."""

    id: str
    name: str
    enabled: bool
    connector: str
    destinations: tuple[RouteDestination, ...]
    created_ms: int = 0
    # the connector's settings (e.g. an HTTP provider's URL and field mapping)
    config: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def price_for(self, dest: Destination) -> float | None:
        """The price to ``dest``, or None when the route does not serve it. The most specific
        entry wins: network, then country, then ``*``."""
        best: tuple[int, float] | None = None
        for d in self.destinations:
            if d.network is not None:
                if d.country == dest.country and d.network == dest.network:
                    specificity = 3
                else:
                    continue
            elif d.country == dest.country:
                specificity = 2
            elif d.country == "*":
                specificity = 1
            else:
                continue
            if best is None or specificity > best[0]:
                best = (specificity, d.price)
        return None if best is None else best[1]


@dataclass(frozen=True, slots=True)
class Message:
    """An outgoing message as sent. Its body is not kept: OTP texts are secrets."""

    id: str
    account_id: str
    src: str
    dst: str
    country: str
    network: str | None
    type: MessageType
    trackable: bool
    client_ref: str | None
    route_id: str | None
    traffic_class: TrafficClass
    dialect: Dialect
    text_length: int
    sent_ms: int


@dataclass(slots=True)
class MessageState:
    """A message's current state, derived from its events (mutable while a batch folds)."""

    message_id: str
    account_id: str
    type: MessageType
    status: StatusEvent | None = None
    dlr_status: DlrStatus | None = None
    dlr_ms: int | None = None
    window_due_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ConversionEvent:
    """One conversion report (or window close) about a message. Appended, never changed."""

    id: str
    message_id: str
    account_id: str
    status: ConversionStatus
    type: MessageType
    method: Method
    event_ms: int
    received_ms: int
    source: EventSource
    dialect: Dialect | None
    traffic_class: TrafficClass | None
    dedupe_key: str
    raw: str | None = None

    def as_status_event(self) -> StatusEvent:
        """The part of the event that decides the current status."""
        return StatusEvent(self.id, self.status, self.source, self.event_ms, self.received_ms)


@dataclass(frozen=True, slots=True)
class DlrEvent:
    """One delivery receipt about a message. Appended, never changed."""

    id: str
    message_id: str
    account_id: str
    status: DlrStatus
    event_ms: int
    received_ms: int
    error_code: str | None = None
    raw: str | None = None


@by_fields
@dataclass(frozen=True, slots=True)
class Submission:
    """A message still to hand to its route: an outbox entry (the text is stored encrypted,
    and only until the route took it or the message's window closed)."""

    message_id: str
    account_id: str
    route_id: str
    src: str
    dst: str  # E.164 with "+"
    text: str
    country: str
    network: str | None
    client_ref: str | None
    sent_ms: int
    expires_ms: int  # not sent after this: its window closed, or its useful life ended
    attempt: int = 0  # the decision it goes out under (0, then 1, 2, ... after failovers)
    tried: tuple[str, ...] = ()  # the routes that refused it
    tries: int = 0  # how many times an instance claimed it


@by_fields
@dataclass(frozen=True, slots=True)
class Forward:
    """A conversion to report to the provider the message went out through (a forward
    entry: ``storage`` keeps it until the provider took it)."""

    id: str  # the conversion event's
    message_id: str
    account_id: str
    route_id: str
    upstream_id: str
    status: ConversionStatus
    type: MessageType
    method: Method
    event_ms: int
    tries: int = 0
