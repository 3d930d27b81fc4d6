"""Destinations, times, ids, credentials and route prices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convroute.domain.clock import format_iso, parse_iso8601, parse_sql_utc, to_ms
from convroute.domain.credentials import hash_secret, secret_matches
from convroute.domain.destinations import parse_destination
from convroute.domain.errors import ValidationError
from convroute.domain.ids import canonical_uuid, is_uuid, new_id
from convroute.domain.models import Route, RouteDestination


@pytest.mark.parametrize(
    ("raw", "e164", "country", "network"),
    [
        ("14155552671", "+14155552671", "US", None),
        ("+33 6 12 34 56 78", "+33612345678", "FR", "SFR"),
        ("+919876543210", "+919876543210", "IN", "Airtel"),
        ("+447700900123", "+447700900123", "GB", None),  # drama range: country from the code
    ],
)
def test_destinations(raw: str, e164: str, country: str, network: str | None) -> None:
    dest = parse_destination(raw)
    assert (dest.e164, dest.country, dest.network) == (e164, country, network)


@pytest.mark.parametrize("raw", ["", "abc", "123", "+1", "+80012345678", "+99912345678901234"])
def test_bad_destinations(raw: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_destination(raw)
    assert "dst" in err.value.details


def test_iso_times() -> None:
    assert parse_iso8601("2020-08-01T11:32:26Z") == 1596281546000
    assert parse_iso8601("2023-02-09T09:00:43.511Z") == 1675933243511
    assert parse_iso8601("2020-08-01T13:32:26+02:00") == 1596281546000
    assert parse_iso8601("2020-08-01T11:32:26") == 1596281546000  # no offset: UTC
    assert parse_sql_utc("2020-08-01 11:32:26") == 1596281546000


@pytest.mark.parametrize("raw", ["yesterday", "2020-13-01T00:00:00Z", "1999-12-31T23:59:59Z", ""])
def test_bad_times(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_iso8601(raw)


@given(st.integers(946_684_800_000, 4_102_444_800_000))
def test_iso_round_trip(ms: int) -> None:
    assert parse_iso8601(format_iso(ms)) == ms


def test_ids_are_time_ordered_uuid7() -> None:
    a, b = new_id(1_700_000_000_000), new_id(1_700_000_000_001)
    assert is_uuid(a)
    assert a[14] == "7"
    assert a < b
    assert not is_uuid("not-a-uuid")
    assert not is_uuid("../etc")


@given(st.integers(min_value=946_684_800_000, max_value=253_402_300_799_999))  # 2000 to 9999
def test_format_iso_says_what_strftime_says(ms: int) -> None:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    assert format_iso(ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_canonical_uuid_is_the_uuid_librarys(value: int) -> None:
    assert canonical_uuid(value) == str(uuid.UUID(int=value))


def _uuid_by_the_library(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


_HEXISH = st.text(alphabet="0123456789abcdefABCDEFg-{}:urn ", max_size=45)


@given(st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
                 st.uuids().map(lambda u: u.hex), st.uuids().map(lambda u: f"{{{u}}}"),
                 _HEXISH, st.text(max_size=40)))  # fmt: skip
def test_is_uuid_says_what_the_uuid_library_says(value: str) -> None:
    assert is_uuid(value) == _uuid_by_the_library(value)


def test_secret_hashing() -> None:
    stored = hash_secret("s3cret")
    assert secret_matches("s3cret", stored)
    assert not secret_matches("s3cret ", stored)


def test_most_specific_price_wins() -> None:
    route = Route(
        "r",
        "r",
        True,
        "simulated",
        (
            RouteDestination("*", 0.05),
            RouteDestination("FR", 0.03),
            RouteDestination("FR", 0.02, network="SFR"),
        ),
    )
    assert route.price_for(parse_destination("+33612345678")) == 0.02  # SFR
    assert route.price_for(parse_destination("+33700000000")) == 0.03  # FR, another network
    assert route.price_for(parse_destination("+14155552671")) == 0.05
    only_fr = Route("f", "f", True, "simulated", (RouteDestination("FR", 0.03),))
    assert only_fr.price_for(parse_destination("+14155552671")) is None


_TWO = st.integers(0, 99)


@given(st.tuples(st.integers(0, 9999), _TWO, _TWO, _TWO, _TWO, _TWO))
def test_vonage_times_are_read_as_strptime_reads_them(fields: tuple[int, ...]) -> None:
    y, mo, d, h, mi, s = fields
    text = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        expected: int | None = to_ms(moment, "timestamp")
    except (ValueError, ValidationError):
        expected = None
    try:
        got: int | None = parse_sql_utc(text)
    except ValidationError:
        got = None
    assert got == expected
