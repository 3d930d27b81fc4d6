"""What a provider is to convroute: how to send through it, how to read and authenticate its
status callbacks, how to forward a conversion to it. Each provider module (``plivo``,
``vonage``, ``twilio``, ``bird``) answers these in its own wire format; ``connector`` runs the
HTTP, ``api/callbacks`` serves the callbacks. Nothing here opens a connection."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from convroute.domain.commands import Nonce
from convroute.domain.models import Forward, Submission
from convroute.domain.statuses import DlrStatus

REPLAY_WINDOW_MS = 300_000
"""How far a signed callback's timestamp may be from now; its nonce is kept this long
twice over (a replay within the window finds it, one after is refused for its age)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to a provider."""

    method: str
    url: str
    json: Any = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    """A request the provider made to convroute's callback URL, as it signed it."""

    method: str
    url: str  # the URL the provider called (the public one: what it signed)
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    form: Mapping[str, str]  # a form's fields (none for JSON)
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        """The query and the form's fields together (the form's win)."""
        return {**self.query, **self.form}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What a status callback says about one message."""

    upstream_id: str | None  # the provider's id of the message
    reference: str | None  # ours, where the provider echoes it
    status: DlrStatus | None  # None: not final yet (queued, sent ...): nothing to record
    error_code: str | None = None


class CallbackRefused(Exception):
    """A callback that is not the provider's (401), or that says nothing we can read (400)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unsigned(what: str) -> CallbackRefused:
    return CallbackRefused(401, "unsigned", f"the callback carries no {what}")


def forged() -> CallbackRefused:
    return CallbackRefused(401, "bad_signature", "the callback's signature does not match")


def malformed(problem: str) -> CallbackRefused:
    return CallbackRefused(400, "bad_callback", problem)


def nonce_of(provider: str, signature: str, now_ms: int) -> Nonce:
    """The single-use key of a signed callback: a replay of it is refused."""
    digest = hashlib.sha256(f"{provider}|{signature}".encode()).hexdigest()
    return Nonce(digest, now_ms + 2 * REPLAY_WINDOW_MS)


def b64_hmac(key: bytes, payload: bytes, digest: Any) -> str:
    return base64.b64encode(hmac.new(key, payload, digest).digest()).decode()


def any_matches(expected: str, given: Sequence[str]) -> bool:
    """Whether one of ``given`` is ``expected``, each compared in constant time."""
    found = False
    for candidate in given:
        found |= hmac.compare_digest(expected.encode(), candidate.strip().encode())
    return found


def fresh(signed_ms: int, now_ms: int) -> None:
    """Refuse a signed callback whose timestamp is outside the replay window."""
    if abs(now_ms - signed_ms) > REPLAY_WINDOW_MS:
        raise CallbackRefused(
            401, "stale", "the callback's signed timestamp is more than 5 minutes from now"
        )


def with_reference(url: str, message_id: str) -> str:
    """The callback URL for one message: our id rides along (the provider signs it)."""
    return f"{url}{'&' if '?' in url else '?'}message_id={message_id}"


class Provider(Protocol):
    """One provider's wire format."""

    name: str
    required: tuple[str, ...]  # config keys
    optional: tuple[str, ...]
    # our message id rides in the callback URL's query (a provider that signs its own
    # parameters only, or echoes our id itself, is given the bare URL)
    reference_in_callback: bool

    def send(self, config: Mapping[str, Any], message: Submission, callback: str | None) -> Call:
        """The send request for ``message``; ``callback`` is convroute's URL for its status."""
        ...

    def sent(self, status: int, body: Any) -> list[str]:
        """The provider's ids for the message it took (a 2xx answer's body, parsed JSON);
        ``SubmitError`` when the answer says it did not take it."""
        ...

    def verify(self, config: Mapping[str, Any], callback: Callback, now_ms: int) -> Nonce:
        """Authenticate a status callback (``CallbackRefused`` when it is not the
        provider's); its single-use key."""
        ...

    def report(self, callback: Callback) -> StatusReport:
        """What an authenticated status callback says (``CallbackRefused`` if nothing)."""
        ...

    def forward(self, config: Mapping[str, Any], conversion: Forward) -> Call | None:
        """The request reporting ``conversion`` to the provider; None when the provider has
        no word for its status (nothing to forward)."""
        ...
