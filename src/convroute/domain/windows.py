"""Conversion windows: how long a trackable message may stay unreported before it counts as
``not_converted`` (DESIGN 2.1). Per account and type; these are the defaults."""

from __future__ import annotations

from collections.abc import Mapping

from convroute.domain.statuses import MessageType

DEFAULT_WINDOWS_S: Mapping[MessageType, int] = {
    MessageType.OTP: 10 * 60,  # Plivo's and DESIGN's default: OTPs expire in minutes
    MessageType.URL: 60 * 60,  # a link is usually clicked within the hour or never
    MessageType.PROMO_CODE: 24 * 60 * 60,  # promo codes are redeemed over a day
    MessageType.OTHER: 60 * 60,
}

MAX_WINDOW_S = 30 * 24 * 60 * 60


def window_seconds(message_type: MessageType, overrides: Mapping[MessageType, int]) -> int:
    """The window for a type, the account's override first."""
    return overrides.get(message_type, DEFAULT_WINDOWS_S[message_type])
