"""Normalized vocabularies shared by every dialect (DESIGN 2.1)."""

from __future__ import annotations

from enum import StrEnum


class ConversionStatus(StrEnum):
    """A conversion report's normalized status."""

    CONVERTED = "converted"
    CONVERTED_OTHER = "converted_other"
    NOT_CONVERTED = "not_converted"
    RESENT = "resent"
    RECEIVED_AFTER_EXPIRATION = "received_after_expiration"
    CANCELED = "canceled"
    INCORRECT_CODE = "incorrect_code"

    @property
    def is_final(self) -> bool:
        """Final statuses close a message; ``incorrect_code`` may still change."""
        return self is not ConversionStatus.INCORRECT_CODE

    @property
    def reward(self) -> int | None:
        """The route reward this status carries: 1, 0, or None (no reward: drops out)."""
        return _REWARD[self]


_REWARD: dict[ConversionStatus, int | None] = {
    ConversionStatus.CONVERTED: 1,
    ConversionStatus.CONVERTED_OTHER: 0,
    ConversionStatus.NOT_CONVERTED: 0,
    ConversionStatus.RESENT: 0,
    ConversionStatus.RECEIVED_AFTER_EXPIRATION: 0,
    ConversionStatus.CANCELED: None,
    ConversionStatus.INCORRECT_CODE: None,
}


class MessageType(StrEnum):
    """What the message asks the user to do."""

    OTP = "otp"
    URL = "url"
    PROMO_CODE = "promo_code"
    OTHER = "other"


class Method(StrEnum):
    """How the user entered the code."""

    MANUAL = "manual"
    AUTO = "auto"
    UNKNOWN = "unknown"


class DlrStatus(StrEnum):
    """A delivery receipt's normalized status."""

    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class TrafficClass(StrEnum):
    """A credential's traffic class: only ``2fa`` traffic trains OTP routing."""

    TWO_FA = "2fa"
    OTHER = "other"


class Dialect(StrEnum):
    """The wire API a request arrived through."""

    NATIVE = "native"
    PLIVO = "plivo"
    VONAGE = "vonage"
    BIRD = "bird"
    TWILIO = "twilio"


class EventSource(StrEnum):
    """Who produced a conversion event: the client, or the window closing."""

    CLIENT = "client"
    WINDOW = "window"
