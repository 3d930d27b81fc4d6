"""Commands: what a request asks the service to do, already parsed from its dialect, and
their results. Dialects build commands; ``services`` carries them out."""

from __future__ import annotations

from dataclasses import dataclass

from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, Method


@dataclass(frozen=True, slots=True)
class Nonce:
    """A single-use token a signed request carries (a digest of its signature): a command
    whose nonce was already used by an accepted command is refused as a replay. ``expires_ms``
    is when it may be forgotten (the request's timestamp would be refused by then anyway)."""

    key: str
    expires_ms: int


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


@dataclass(frozen=True, slots=True)
class RecordDlr:
    """Record one delivery receipt."""

    principal: Principal
    message_id: str
    status: DlrStatus
    event_ms: int | None = None
    error_code: str | None = None
    raw: str | None = None


Command = SendMessage | RecordConversion | RecordDlr


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


@dataclass(frozen=True, slots=True)
class ConversionRecorded:
    """A conversion report is durable. ``duplicate`` when an identical report was already."""

    conversion_id: str
    message_id: str
    status: ConversionStatus
    duplicate: bool


@dataclass(frozen=True, slots=True)
class DlrRecorded:
    """A delivery receipt is durable."""

    dlr_id: str
    message_id: str
    status: DlrStatus
