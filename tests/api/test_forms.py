"""The form parser every form-speaking dialect shares against the standard library's."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convroute.api.http import parse_form

_ALPHABET = st.sampled_from([*"ab=&%+ 2F_-.é", "%2", "%41", "%zz", "%C3%A9", "%FF"])


def _standard(text: str) -> list[tuple[str, str]] | str:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return "refused"


def _ours(text: str) -> list[tuple[str, str]] | str:
    try:
        return parse_form(text)
    except ValueError:
        return "refused"


@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_any_text_parses_as_parse_qsl_strict(text: str) -> None:
    assert _ours(text) == _standard(text)


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_an_encoded_form_comes_back(params: dict[str, str]) -> None:
    assert dict(parse_form(urlencode(params))) == params


@pytest.mark.parametrize("text", ["a", "a=1&b", "a=1&&b=2", "&a=1", "a=1&"])
def test_a_field_without_equals_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad query field"):
        parse_form(text)


def test_blank_values_are_kept_and_plus_is_a_space() -> None:
    assert parse_form("a=&b=x+y%2Bz&c%3D=1") == [("a", ""), ("b", "x y+z"), ("c=", "1")]
    assert parse_form("") == []
