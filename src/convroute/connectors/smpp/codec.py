"""SMPP 3.4 on the wire: PDUs (smpplib's), texts in GSM 03.38 or UCS-2 split with a UDH,
and delivery receipts read from ``deliver_sm``.

smpplib encodes and parses every PDU and knows the GSM 03.38 alphabet; what is written here
is what it does not do right for this use: ``§`` (its table is wrong there), splitting a
long text on character boundaries (its ``make_parts`` may cut a two-byte GSM escape or a
UTF-16 surrogate pair in two), a vendor TLV that carries our message id, and the receipt's
text."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from smpplib import consts, gsm
from smpplib import smpp as pdus

from convroute.domain.statuses import DlrStatus

HEADER = struct.Struct(">LLLL")  # command_length, command_id, command_status, sequence_number
MESSAGE_ID_TAG = 0x1400
"""A vendor-specific TLV (SMPP 3.4 5.3.2: 0x1400-0x3FFF) carrying our message id on every
``submit_sm``, so an SMSC (or a test's) can recognise a resend after a crash."""

RECEIPT_ESM_CLASS = 0x04  # esm_class of a deliver_sm that is an SMSC delivery receipt
GSM7, UCS2 = consts.SMPP_ENCODING_DEFAULT, consts.SMPP_ENCODING_ISO10646
_SINGLE = {GSM7: 160, UCS2: 140}  # bytes (GSM: septets sent one per byte) in one message
_PART = {GSM7: 153, UCS2: 134}  # bytes per part once a 6-byte UDH takes its share


@dataclass(frozen=True, slots=True)
class Parts:
    """A text as the SMSC gets it: its parts (each with its UDH if split), and their coding."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def gsm_encode(text: str) -> bytes:
    """GSM 03.38, a septet a byte, by smpplib's table with its one error righted: 0x5F is
    ``§`` (its table has a filler there, so it takes ``§`` for non-GSM and encodes a backtick,
    which GSM has not, as ``§``). UnicodeError when a character has no GSM encoding."""
    out = bytearray()
    for char in text:
        if char == "§":
            out.append(0x5F)
        elif char in "`\x1b":  # (ESC is the escape septet itself, not a character)
            raise UnicodeError(f"{char!r} has no GSM 03.38 encoding")
        else:
            out += gsm.gsm_encode(char)
    return bytes(out)


def encode_text(text: str, reference: int) -> Parts:
    """``text`` in GSM 03.38 when every character has a GSM encoding, else UCS-2; split into
    concatenated parts (UDH IEI 0x00, 8-bit ``reference``) when it does not fit one message,
    never inside a character."""
    try:
        coding, whole = GSM7, gsm_encode(text)
    except UnicodeError:
        coding, whole = UCS2, text.encode("utf-16-be")
    if len(whole) <= _SINGLE[coding]:
        return Parts(coding, consts.SMPP_MSGTYPE_DEFAULT, (whole,))
    chunks: list[bytes] = []
    current = b""
    for char in text:
        piece = gsm_encode(char) if coding == GSM7 else char.encode("utf-16-be")
        if len(current) + len(piece) > _PART[coding]:
            chunks.append(current)
            current = b""
        current += piece
    chunks.append(current)
    if len(chunks) > 255:
        raise ValueError("the text needs more than 255 parts")
    udh = bytes([5, 0, 3, reference & 0xFF, len(chunks)])
    parts = tuple(udh + bytes([i]) + chunk for i, chunk in enumerate(chunks, start=1))
    return Parts(coding, consts.SMPP_GSMFEAT_UDHI, parts)


def decode_text(data: bytes, data_coding: int, esm_class: int = 0) -> str:
    """A short message's text (its UDH left out), for receipts and the test SMSC."""
    if esm_class & consts.SMPP_GSMFEAT_UDHI and data:
        data = data[1 + data[0] :]
    if data_coding == UCS2:
        return data.decode("utf-16-be", errors="replace")
    table = gsm.GSM_CHARACTER_TABLE
    out, escape = [], False
    for byte in data:
        if byte == 0x1B:
            escape = True
            continue
        index = byte + 0x80 if escape else byte
        char = table[index] if index < len(table) else "?"
        out.append(("§" if index == 0x5F else "?") if char == "`" else char)
        escape = False
    return "".join(out)


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def make(command: str, sequence: int, status: int = 0, extra: bytes = b"", **fields: Any) -> bytes:
    """The bytes of one PDU (``extra``: TLVs smpplib does not know, appended)."""
    pdu = pdus.make_pdu(command, client=None, sequence=sequence, **fields)
    pdu.sequence = sequence  # (smpplib keeps a default client's 0 otherwise)
    pdu.status = status
    data: bytes = pdu.generate() + extra
    return HEADER.pack(len(data), *HEADER.unpack(data[:16])[1:]) + data[16:]


def parse(data: bytes) -> Any:
    """One PDU from its bytes (unknown TLVs skipped)."""
    command = pdus.pdu.extract_command(data)
    pdu = pdus.make_pdu(command, client=None, sequence=0, allow_unknown_opt_params=True)
    pdu.parse(data)
    return pdu


def vendor_tlvs(data: bytes, after: int) -> dict[int, bytes]:
    """The TLVs from byte ``after`` of a PDU on (the test SMSC reads our id with it)."""
    out: dict[int, bytes] = {}
    pos = after
    while pos + 4 <= len(data):
        tag, length = struct.unpack(">HH", data[pos : pos + 4])
        out[tag] = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return out


# -- delivery receipts ----------------------------------------------------------------------

# SMPP 3.4 Appendix B: "id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
# date:YYMMDDhhmm stat:DDDDDDD err:E Text: ..."
_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)
_STAT = {
    "DELIVRD": DlrStatus.DELIVERED,
    "ACCEPTD": DlrStatus.DELIVERED,  # accepted on the subscriber's behalf
    "UNDELIV": DlrStatus.FAILED,
    "REJECTD": DlrStatus.FAILED,
    "DELETED": DlrStatus.FAILED,
    "EXPIRED": DlrStatus.EXPIRED,
    "UNKNOWN": DlrStatus.UNKNOWN,
    "ENROUTE": None,  # not final: nothing to record
}
# message_state TLV (SMPP 3.4 5.2.28)
_STATE = {
    1: None,  # ENROUTE
    2: DlrStatus.DELIVERED,
    3: DlrStatus.EXPIRED,
    4: DlrStatus.FAILED,  # DELETED
    5: DlrStatus.FAILED,  # UNDELIVERABLE
    6: DlrStatus.DELIVERED,  # ACCEPTED
    7: DlrStatus.UNKNOWN,
    8: DlrStatus.FAILED,  # REJECTED
}


@dataclass(frozen=True, slots=True)
class SmscReceipt:
    """A delivery receipt as the SMSC sent it: its id for the message, and what it says."""

    upstream_id: str
    status: DlrStatus
    error_code: str | None


def read_receipt(pdu: Any) -> SmscReceipt | None:
    """The receipt a ``deliver_sm`` carries (esm_class 0x04), from its TLVs where present,
    else from its text; None if it is no receipt or says nothing final."""
    if not (pdu.esm_class or 0) & RECEIPT_ESM_CLASS:
        return None
    raw = pdu.short_message or b""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    fields = {k.lower(): v for k, v in _FIELD.findall(text)}
    upstream = pdu.receipted_message_id or fields.get("id")
    if isinstance(upstream, bytes):
        upstream = upstream.decode("latin-1")
    if not upstream:
        return None
    if pdu.message_state is not None:
        status = _STATE.get(int(pdu.message_state), DlrStatus.UNKNOWN)
    else:
        status = _STAT.get(fields.get("stat", "").upper(), DlrStatus.UNKNOWN)
    if status is None:
        return None
    err = fields.get("err")
    code = None if status is DlrStatus.DELIVERED or err in (None, "", "000") else f"smpp_{err}"
    return SmscReceipt(str(upstream).rstrip("\x00"), status, code)
