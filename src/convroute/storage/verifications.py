"""Verifications in the store (``schema.verifications``). Every change that a concurrent
request could race is one conditional UPDATE: an attempt, a send, a final status are claimed
only while the verification is still pending (and within its limits), so two checks at once
never exceed the attempts and a canceled verification is never approved."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, case, func, insert, or_, select, update

from convroute.domain.errors import NotFoundError
from convroute.domain.fraud import Counts
from convroute.domain.verify import Verification, VerificationStatus
from convroute.services.guard import GuardPolicy, policy_from_text, policy_text
from convroute.storage import schema as t

_v = t.verifications.c
PENDING = VerificationStatus.PENDING.value


def _of(row: Any) -> Verification:
    return Verification(
        id=row.id,
        account_id=row.account_id,
        to=row.dst,
        country=row.country,
        network=row.network,
        channel=row.channel,
        locale=row.locale,
        code_length=row.code_length,
        code_hash=row.code_hash,
        status=VerificationStatus(row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        sends=row.sends,
        message_id=row.message_id,
        route_id=row.route_id,
        client_ref=row.client_ref,
        created_ms=row.created_ms,
        expires_ms=row.expires_ms,
        updated_ms=row.updated_ms,
    )


class SqlVerifications:
    """The verifications table, read and changed."""

    def __init__(self, writer: Engine, reader: Engine) -> None:
        self._writer, self._reader = writer, reader

    def add(self, v: Verification) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                insert(t.verifications).values(
                    id=v.id, account_id=v.account_id, dst=v.to, country=v.country,
                    network=v.network, channel=v.channel, locale=v.locale,
                    code_length=v.code_length, code_hash=v.code_hash, status=v.status.value,
                    attempts=v.attempts, max_attempts=v.max_attempts, sends=v.sends,
                    message_id=v.message_id, route_id=v.route_id, client_ref=v.client_ref,
                    created_ms=v.created_ms, expires_ms=v.expires_ms, updated_ms=v.updated_ms,
                )
            )  # fmt: skip

    def get(self, account_id: str, verification_id: str, fresh: bool = True) -> Verification | None:
        """The account's verification (None for another account's: it does not exist for
        this one). ``fresh``: read on the writer, which a check must see."""
        engine = self._writer if fresh else self._reader
        with engine.connect() as conn:
            row = conn.execute(
                select(t.verifications).where(_v.id == verification_id, _v.account_id == account_id)
            ).first()
        return None if row is None else _of(row)

    def pending_to(self, account_id: str, to: str, now_ms: int) -> Verification | None:
        """The account's latest verification of ``to`` still pending and in time."""
        with self._writer.connect() as conn:
            row = conn.execute(
                select(t.verifications)
                .where(_v.account_id == account_id, _v.dst == to, _v.status == PENDING)
                .where(_v.expires_ms > now_ms)
                .order_by(_v.created_ms.desc())
                .limit(1)
            ).first()
        return None if row is None else _of(row)

    def _claim(self, account_id: str, verification_id: str, *conditions: Any) -> Any:
        """An update of the account's verification while it is pending (and ``conditions``)."""
        return update(t.verifications).where(
            _v.id == verification_id, _v.account_id == account_id, _v.status == PENDING,
            *conditions,
        )  # fmt: skip

    def claim_attempt(self, account_id: str, verification_id: str, now_ms: int) -> bool:
        """One more check of a pending verification within its time and attempts."""
        with self._writer.begin() as conn:
            done = conn.execute(
                self._claim(account_id, verification_id,
                            _v.expires_ms > now_ms, _v.attempts < _v.max_attempts)
                .values(attempts=_v.attempts + 1, updated_ms=now_ms)
            ).rowcount  # fmt: skip
        return bool(done)

    def claim_send(
        self, account_id: str, verification_id: str, now_ms: int, max_sends: int
    ) -> bool:
        """One more message for a pending verification within its time and sends."""
        with self._writer.begin() as conn:
            done = conn.execute(
                self._claim(account_id, verification_id,
                            _v.expires_ms > now_ms, _v.sends < max_sends)
                .values(sends=_v.sends + 1, updated_ms=now_ms)
            ).rowcount  # fmt: skip
        return bool(done)

    def resent(
        self,
        account_id: str,
        verification_id: str,
        code_hash: str,
        message_id: str,
        route_id: str | None,
        now_ms: int,
    ) -> bool:
        """The new code and message of a resend (while still pending)."""
        with self._writer.begin() as conn:
            done = conn.execute(
                self._claim(account_id, verification_id).values(
                    code_hash=code_hash, message_id=message_id, route_id=route_id,
                    updated_ms=now_ms,
                )
            ).rowcount  # fmt: skip
        return bool(done)

    def finish(
        self, account_id: str, verification_id: str, status: VerificationStatus, now_ms: int
    ) -> bool:
        """Move a pending verification to ``status``; False if it was no longer pending."""
        with self._writer.begin() as conn:
            done = conn.execute(
                self._claim(account_id, verification_id).values(
                    status=status.value, updated_ms=now_ms
                )
            ).rowcount
        return bool(done)

    def started(
        self, account_id: str, since_ms: int, country: str | None, prefix: str | None
    ) -> int:
        """The account's verifications started since ``since_ms``, to a country or to
        numbers starting with ``prefix``: what the fraud guard's rate limits count."""
        query = (
            select(func.count())
            .select_from(t.verifications)
            .where(_v.account_id == account_id, _v.created_ms >= since_ms)
        )
        if country is not None:
            query = query.where(_v.country == country)
        if prefix is not None:
            query = query.where(_v.dst.startswith(prefix, autoescape=True))
        with self._reader.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def outcomes(
        self, account_id: str, prefix: str, country: str, now_ms: int
    ) -> tuple[Counts, Counts]:
        """The account's verifications of the last hour whose outcome is known (final, or
        expired), to numbers starting with ``prefix`` and to ``country``: how many, and how
        many were approved."""
        settled = or_(_v.status != PENDING, _v.expires_ms <= now_ms)
        approved = func.sum(case((_v.status == VerificationStatus.APPROVED.value, 1), else_=0))
        query = select(func.count(), approved).where(
            _v.account_id == account_id, _v.created_ms >= now_ms - 3_600_000, settled
        )
        with self._reader.connect() as conn:
            mine = conn.execute(query.where(_v.dst.startswith(prefix, autoescape=True))).one()
            everyone = conn.execute(query.where(_v.country == country)).one()
        return Counts(mine[0], int(mine[1] or 0)), Counts(everyone[0], int(everyone[1] or 0))

    def guard(self, account_id: str) -> GuardPolicy:
        """The account's fraud guard (the defaults for an account that set none)."""
        with self._reader.connect() as conn:
            text = conn.execute(
                select(t.accounts.c.verify_guard).where(t.accounts.c.id == account_id)
            ).scalar_one_or_none()
        return policy_from_text(text)

    def set_guard(self, account_id: str, policy: GuardPolicy, now_ms: int) -> None:
        with self._writer.begin() as conn:
            done = conn.execute(
                update(t.accounts)
                .where(t.accounts.c.id == account_id)
                .values(verify_guard=policy_text(policy), updated_ms=now_ms)
            ).rowcount
        if not done:
            raise NotFoundError(f"account {account_id} not found")
