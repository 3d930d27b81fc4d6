"""Vonage signatures: the published test vectors, and what a signature must not tolerate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign, signature_matches, string_to_sign

PARAMS = {"a": "1", "b": "2", "timestamp": "1461605396"}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (SignatureMethod.MD5HASH, "6af838ef94998832dbfc29020b564830"),
        (SignatureMethod.MD5, "c15c21ced558c93a226c305f58f902f2"),
        (SignatureMethod.SHA1, "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"),
        (
            SignatureMethod.SHA256,
            "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24",
        ),
    ],
)
def test_vectors(method: SignatureMethod, expected: str) -> None:
    assert sign(PARAMS, "secret", method) == expected
    assert signature_matches({**PARAMS, "sig": expected}, expected.upper(), "secret", method)


def test_string_to_sign_sorts_drops_sig_and_escapes_values() -> None:
    params = {"b": "x&y=z", "a": "1", "sig": "ignored"}
    assert string_to_sign(params) == "&a=1&b=x_y_z"


@pytest.mark.parametrize("method", list(SignatureMethod))
def test_any_change_breaks_the_signature(method: SignatureMethod) -> None:
    sig = sign(PARAMS, "secret", method)
    assert not signature_matches({**PARAMS, "a": "2"}, sig, "secret", method)
    assert not signature_matches({**PARAMS, "c": "3"}, sig, "secret", method)
    assert not signature_matches(PARAMS, sig, "secreT", method)
    assert not signature_matches(PARAMS, sig[:-1], "secret", method)


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k != "sig"), st.text(), max_size=6))
def test_order_of_parameters_does_not_matter(params: dict[str, str]) -> None:
    reversed_params = dict(reversed(list(params.items())))
    assert sign(params, "s", SignatureMethod.SHA256) == sign(
        reversed_params, "s", SignatureMethod.SHA256
    )
