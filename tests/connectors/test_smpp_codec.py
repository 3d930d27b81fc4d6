"""The SMPP codec's invariants (Hypothesis): any text splits into parts that fit one message
each, never inside a character, and joins back to the text; receipts read in both forms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.connectors.smpp.codec import (
    GSM7,
    RECEIPT_ESM_CLASS,
    UCS2,
    decode_text,
    encode_text,
    make,
    parse,
    read_receipt,
)
from convroute.domain.statuses import DlrStatus

GSM_CHARS = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà^{}\\[~]|€"  # noqa: E501


@settings(max_examples=300)
@given(
    text=st.text(st.sampled_from(GSM_CHARS), min_size=1, max_size=700)
    | st.text(st.characters(codec="utf-16", exclude_categories=("Cs",)), min_size=1, max_size=400),
    reference=st.integers(0, 255),
)
def test_any_text_splits_into_parts_that_fit_and_join_back(text: str, reference: int) -> None:
    parts = encode_text(text, reference)
    single = {GSM7: 160, UCS2: 140}[parts.data_coding]
    assert all(len(p) <= single for p in parts.parts)
    if len(parts.parts) > 1:
        assert parts.esm_class & 0x40
        for i, p in enumerate(parts.parts, start=1):
            assert p[:6] == bytes([5, 0, 3, reference, len(parts.parts), i])
    joined = "".join(decode_text(p, parts.data_coding, parts.esm_class) for p in parts.parts)
    assert joined == text
    if all(c in GSM_CHARS for c in text):
        assert parts.data_coding == GSM7  # UCS-2 only when needed


def test_the_gsm_alphabet_is_right_where_smpplib_is_not() -> None:
    assert encode_text("§", 0).parts == (b"\x5f",)  # GSM 03.38 0x5F
    assert encode_text("`", 0).data_coding == UCS2  # GSM has no backtick


def test_receipts_read_from_the_text_and_from_the_tlvs() -> None:
    def receipt(**fields: object) -> object:
        return read_receipt(parse(make("deliver_sm", 1, source_addr="1", destination_addr="2",
                                       esm_class=RECEIPT_ESM_CLASS, **fields)))  # fmt: skip

    cases = (
        ("DELIVRD", DlrStatus.DELIVERED),
        ("UNDELIV", DlrStatus.FAILED),
        ("EXPIRED", DlrStatus.EXPIRED),
        ("REJECTD", DlrStatus.FAILED),
    )
    for stat, status in cases:
        text = f"id:AB12 sub:001 dlvrd:000 submit date:2601011200 done date:2601011201 stat:{stat} err:005 Text:x"  # noqa: E501
        got = receipt(short_message=text.encode())
        assert got is not None
        assert (got.upstream_id, got.status) == ("AB12", status)
        assert got.error_code == (None if status is DlrStatus.DELIVERED else "smpp_005")
    assert receipt(short_message=b"id:AB12 stat:ENROUTE err:000") is None  # not final
    got = receipt(short_message=b"", receipted_message_id="Z9", message_state=3)
    assert got is not None
    assert (got.upstream_id, got.status) == ("Z9", DlrStatus.EXPIRED)
    not_a_receipt = parse(make("deliver_sm", 1, source_addr="1", destination_addr="2",
                               esm_class=0, short_message=b"hello"))  # fmt: skip
    assert read_receipt(not_a_receipt) is None
