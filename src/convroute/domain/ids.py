"""Identifiers: UUIDv7 (RFC 9562), time-ordered so that new rows land at the end of indexes."""

from __future__ import annotations

import os
import re

from convroute.domain.clock import system_clock


def new_id(now_ms: int | None = None) -> str:
    """A new UUIDv7 as a lowercase string: 48 bits of ms time, then 74 random bits."""
    ms = system_clock() if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return canonical_uuid(value)


def canonical_uuid(value: int) -> str:
    """A 128-bit number as ``str(uuid.UUID(int=value))`` writes it (without building the
    UUID: two for every send)."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a canonical UUID string (any version, either case): what
    ``str(uuid.UUID(value)) == value.lower()`` says, without building the UUID (every
    report's id is checked on the event loop)."""
    return _CANONICAL.fullmatch(value) is not None
