"""Destinations: an E.164 number and where it goes (country, and network where known)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier

from convroute.domain.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes. ``network`` is the number range's original carrier, as
    ``phonenumbers`` knows it (portability is not visible from the number), or None."""

    e164: str
    country: str
    network: str | None


def parse_destination(raw: str, field: str = "dst") -> Destination:
    """Parse a number given as E.164 (with or without the leading ``+``)."""
    return _parsed(e164_shaped(raw, field), raw, field)


def e164_shaped(raw: str, field: str = "dst") -> str:
    """The number, with its ``+``, if it has the shape of E.164 (digits, 8 to 16 with the
    ``+``; spaces and dashes dropped), else ValidationError. Cheap: whether it is a number
    of a country is ``parse_destination``'s to say."""
    text = raw.strip().replace(" ", "").replace("-", "")
    if not text:
        raise ValidationError.field(field, "must be a phone number in E.164 format")
    if not text.startswith("+"):
        text = "+" + text
    if not text[1:].isdigit() or not 8 <= len(text) <= 16:
        raise ValidationError.field(field, f"must be a phone number in E.164 format, got {raw!r}")
    return text


@functools.lru_cache(maxsize=65_536)
def _parsed(text: str, raw: str, field: str) -> Destination:
    """The parse of a well-formed number (phonenumbers and its carrier table cost about
    0.1 ms a number, in the writer: OTP traffic comes back to the same numbers, resends and
    daily logins, so the last 65,536 are kept; a refused one is parsed again each time)."""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationError.field(field, f"is not a phone number: {raw!r}") from None
    # A number in a reserved range (drama, test) has no region of its own: its country code's
    # main region stands in, so such numbers stay usable in demos and tests.
    country = phonenumbers.region_code_for_number(number) or (
        phonenumbers.region_code_for_country_code(number.country_code or 0)
    )
    if not country or country == "001" or country == "ZZ":
        raise ValidationError.field(field, f"has no country: {raw!r}")
    if not phonenumbers.is_possible_number(number):
        raise ValidationError.field(field, f"is not a possible phone number: {raw!r}")
    network = carrier.name_for_number(number, "en") or None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Destination(e164=e164, country=country, network=network)
