"""Verify's use cases (DESIGN 3b): start a verification (a code sent over the routed message),
check a code, resend, cancel. Every outcome is a conversion event of the verification's
message, recorded through the writer exactly as a client's report would be, so routing learns
from it with no other change:

| what happened                         | the message's conversion status |
|---------------------------------------|---------------------------------|
| the right code, in time               | ``converted`` (method: manual/auto) |
| a wrong code                          | ``incorrect_code``                  |
| the last attempt used, wrong          | ``not_converted`` (final)           |
| the right code after expiry           | ``received_after_expiration``       |
| a new code was sent (resend)          | ``resent`` (the earlier message)    |
| canceled                              | ``canceled``                        |
| nothing before the window closes      | ``not_converted`` (the window sweep) |

The conversion is recorded before the verification's status moves, so an answer that says
approved is never given for an outcome routing has not durably learned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from convroute.domain.clock import Clock
from convroute.domain.commands import MessageAccepted, RecordConversion, SendMessage
from convroute.domain.destinations import parse_destination
from convroute.domain.errors import ConflictError, NotFoundError, ValidationError
from convroute.domain.ids import is_uuid, new_id
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, MessageType, Method
from convroute.domain.verify import (
    ATTEMPTS,
    CHANNELS,
    CODE_LENGTHS,
    DEFAULT_ATTEMPTS,
    DEFAULT_CODE_LENGTH,
    DEFAULT_EXPIRY_S,
    DEFAULT_SENDER,
    EXPIRY_S,
    MAX_SENDS,
    Verification,
    VerificationStatus,
    check_template,
    code_hash,
    code_matches,
    in_range,
    language,
    message_ref,
    message_text,
    new_code,
)
from convroute.services.guard import Guard, GuardPolicy


class VerificationStore(Protocol):
    """What Verify keeps (``storage/verifications.py``)."""

    def add(self, v: Verification) -> None: ...
    def get(
        self, account_id: str, verification_id: str, fresh: bool = True
    ) -> Verification | None: ...
    def claim_attempt(self, account_id: str, verification_id: str, now_ms: int) -> bool: ...
    def claim_send(
        self, account_id: str, verification_id: str, now_ms: int, max_sends: int
    ) -> bool: ...
    def resent(
        self, account_id: str, verification_id: str, code_hash: str, message_id: str,
        route_id: str | None, now_ms: int,
    ) -> bool: ...  # fmt: skip
    def finish(
        self, account_id: str, verification_id: str, status: VerificationStatus, now_ms: int
    ) -> bool: ...
    def pending_to(self, account_id: str, to: str, now_ms: int) -> Verification | None: ...
    def guard(self, account_id: str) -> GuardPolicy: ...
    def set_guard(self, account_id: str, policy: GuardPolicy, now_ms: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Start:
    """A request to verify a number."""

    to: str
    channel: str = "sms"
    locale: str | None = None
    code_length: int = DEFAULT_CODE_LENGTH
    expiry_s: int = DEFAULT_EXPIRY_S
    max_attempts: int = DEFAULT_ATTEMPTS
    template: str | None = None
    sender: str = DEFAULT_SENDER
    client_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """What a check found: ``valid`` only for the right code in time."""

    verification: Verification
    valid: bool


class Verifier:
    """Starts and checks verifications over the writer (``send``, ``record``)."""

    def __init__(
        self,
        store: VerificationStore,
        send: Callable[[SendMessage], Awaitable[MessageAccepted]],
        record: Callable[[RecordConversion], Awaitable[object]],
        clock: Clock,
        key: bytes,
        guard: Guard | None = None,
        randbelow: Callable[[int], int] | None = None,
    ) -> None:
        self.store, self._send, self._record = store, send, record
        self.clock, self._key, self.guard = clock, key, guard
        self.randbelow = randbelow  # the codes' randomness (None: ``secrets``)

    def _code(self, length: int) -> str:
        if self.randbelow is None:
            return new_code(length)
        return new_code(length, self.randbelow)

    # -- start, resend --------------------------------------------------------------------

    async def start(self, principal: Principal, req: Start) -> Verification:
        if req.channel not in CHANNELS:
            raise ValidationError.field("channel", f"must be one of {', '.join(CHANNELS)}")
        length = in_range("code_length", req.code_length, CODE_LENGTHS)
        expiry_s = in_range("expiry_seconds", req.expiry_s, EXPIRY_S)
        attempts = in_range("max_attempts", req.max_attempts, ATTEMPTS)
        template = check_template(req.template)
        locale = req.locale or "en"
        language(locale)
        if req.client_ref is not None and len(req.client_ref) > 200:
            raise ValidationError.field("client_ref", "must be at most 200 characters")
        dest = parse_destination(req.to, "to")
        now = self.clock()
        if self.guard is not None:
            await asyncio.to_thread(self.guard.admit, principal, dest, now)
        vid = new_id(now)
        code = self._code(length)
        text = message_text(template, locale, code, expiry_s)
        sent = await self._send(
            SendMessage(principal, req.sender, dest.e164, text, MessageType.OTP, True,
                        message_ref(vid))
        )  # fmt: skip
        v = Verification(
            id=vid, account_id=principal.account_id, to=dest.e164, country=dest.country,
            network=dest.network, channel=req.channel, locale=locale, code_length=length,
            code_hash=code_hash(self._key, vid, code), status=VerificationStatus.PENDING,
            attempts=0, max_attempts=attempts, sends=1, message_id=sent.message_id,
            route_id=sent.route_id, client_ref=req.client_ref, created_ms=now,
            expires_ms=now + expiry_s * 1000, updated_ms=now,
        )  # fmt: skip
        await asyncio.to_thread(self.store.add, v)
        return v

    async def resend(
        self, principal: Principal, verification_id: str, template: str | None = None,
        sender: str = DEFAULT_SENDER,
    ) -> Verification:  # fmt: skip
        """A new code in a new message, over another route where one serves; the earlier
        message is ``resent``, its code no longer valid."""
        template = check_template(template)  # (checked before a send is claimed)
        v = await self.get(principal, verification_id)
        now = self.clock()
        claimed = await asyncio.to_thread(
            self.store.claim_send, principal.account_id, v.id, now, MAX_SENDS
        )
        if not claimed:
            v = await self._settle(principal, v.id)
            if v.status is VerificationStatus.PENDING:
                raise ConflictError(f"verification {v.id} has had its {MAX_SENDS} messages")
            raise ConflictError(f"verification {v.id} is {v.status.value}")
        code = self._code(v.code_length)
        minutes_s = max(60, (v.expires_ms - now) // 1000)
        text = message_text(template, v.locale, code, minutes_s)
        sent = await self._send(
            SendMessage(principal, sender, v.to, text, MessageType.OTP, True, message_ref(v.id))
        )
        await self._outcome(principal, v.message_id, ConversionStatus.RESENT, now)
        await asyncio.to_thread(
            self.store.resent, principal.account_id, v.id,
            code_hash(self._key, v.id, code), sent.message_id, sent.route_id, now,
        )  # fmt: skip
        return await self.get(principal, v.id)

    # -- check, cancel, read --------------------------------------------------------------

    async def check(
        self, principal: Principal, verification_id: str, code: str, method: Method
    ) -> Checked:
        if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 10):
            raise ValidationError.field("code", "must be 1 to 10 digits")
        v = await self.get(principal, verification_id)
        now = self.clock()
        claimed = await asyncio.to_thread(self.store.claim_attempt, principal.account_id, v.id, now)
        if not claimed:  # no longer pending, out of time or of attempts
            return await self._late_check(principal, v.id, code, now)
        if code_matches(self._key, v, code):
            await self._outcome(principal, v.message_id, ConversionStatus.CONVERTED, now, method)
            await asyncio.to_thread(
                self.store.finish, principal.account_id, v.id, VerificationStatus.APPROVED, now
            )
            after = await self.get(principal, v.id)
            return Checked(after, after.status is VerificationStatus.APPROVED)
        await self._outcome(principal, v.message_id, ConversionStatus.INCORRECT_CODE, now, method)
        after = await self.get(principal, v.id)
        if after.attempts >= after.max_attempts:
            after = await self._out_of_attempts(principal, after, now)
        return Checked(after, False)

    async def _out_of_attempts(
        self, principal: Principal, v: Verification, now: int
    ) -> Verification:
        """No attempt left: the verification is ``max_attempts_reached`` and, by whichever
        check moved it there, its message ``not_converted`` (final: routing learns it now
        rather than when the window closes, which would record the same)."""
        moved = await asyncio.to_thread(
            self.store.finish, principal.account_id, v.id, VerificationStatus.MAX_ATTEMPTS, now
        )
        if moved:
            await self._outcome(principal, v.message_id, ConversionStatus.NOT_CONVERTED, now)
        return await self.get(principal, v.id)

    async def _late_check(
        self, principal: Principal, verification_id: str, code: str, now: int
    ) -> Checked:
        """A check that claimed no attempt: the verification is final, or expired now (then
        the right code means the message came, or was read, too late)."""
        v = await self.get(principal, verification_id)
        if v.status is VerificationStatus.PENDING and v.expires_ms <= now:
            expired = await asyncio.to_thread(
                self.store.finish, principal.account_id, v.id, VerificationStatus.EXPIRED, now
            )
            if expired and code_matches(self._key, v, code):
                await self._outcome(
                    principal, v.message_id, ConversionStatus.RECEIVED_AFTER_EXPIRATION, now
                )
            v = await self.get(principal, v.id)
        elif v.status is VerificationStatus.PENDING:  # (the attempts ran out meanwhile)
            v = await self._out_of_attempts(principal, v, now)
        return Checked(v, False)

    async def cancel(self, principal: Principal, verification_id: str) -> Verification:
        v = await self.get(principal, verification_id)
        now = self.clock()
        if v.status is VerificationStatus.PENDING:
            await self._outcome(principal, v.message_id, ConversionStatus.CANCELED, now)
            done = await asyncio.to_thread(
                self.store.finish, principal.account_id, v.id, VerificationStatus.CANCELED, now
            )
            if done:
                return await self.get(principal, v.id)
        v = await self._settle(principal, v.id)
        raise ConflictError(f"verification {v.id} is {v.status.value}")

    async def get(self, principal: Principal, verification_id: str) -> Verification:
        """The account's verification; another account's is not found."""
        found = None
        if is_uuid(verification_id):
            found = await asyncio.to_thread(
                self.store.get, principal.account_id, verification_id.lower()
            )
        if found is None:
            raise NotFoundError(f"verification {verification_id} not found")
        return found

    async def _settle(self, principal: Principal, verification_id: str) -> Verification:
        """The verification, marked expired if its time ran out while pending."""
        v = await self.get(principal, verification_id)
        now = self.clock()
        if v.status is VerificationStatus.PENDING and v.expires_ms <= now:
            await asyncio.to_thread(
                self.store.finish, principal.account_id, v.id, VerificationStatus.EXPIRED, now
            )
            v = await self.get(principal, v.id)
        return v

    async def pending_to(self, principal: Principal, to: str) -> Verification | None:
        """The account's verification of the number ``to`` still pending, if any."""
        dest = parse_destination(to, "to")
        return await asyncio.to_thread(
            self.store.pending_to, principal.account_id, dest.e164, self.clock()
        )

    async def read(self, principal: Principal, verification_id: str) -> Verification:
        """The verification as it stands now (expired once its time ran out)."""
        return await self._settle(principal, verification_id)

    async def _outcome(
        self, principal: Principal, message_id: str, status: ConversionStatus, now: int,
        method: Method = Method.UNKNOWN,
    ) -> None:  # fmt: skip
        await self._record(RecordConversion(principal, message_id, status, None, method, now))
