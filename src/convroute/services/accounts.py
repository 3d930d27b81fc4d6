"""Accounts and the credentials they authenticate with, one set per dialect (DESIGN 2)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from convroute.domain import credentials as cred
from convroute.domain.errors import ValidationError
from convroute.domain.ids import new_id
from convroute.domain.models import Account, Credential, SignatureMethod
from convroute.domain.statuses import Dialect, TrafficClass


@dataclass(frozen=True)
class IssuedCredential:
    """A new credential and what its owner must be told once (secrets in clear)."""

    credential: Credential
    shown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewAccount:
    """A new account and its first credentials, keyed by dialect."""

    account: Account
    issued: dict[Dialect, IssuedCredential]

    def issued_shown(self, dialect: str) -> dict[str, str]:
        """What the credential of ``dialect`` shows its owner."""
        return self.issued[Dialect(dialect)].shown

    def pretty(self) -> str:
        """The credentials as indented text, one dialect a paragraph."""
        lines = [f"account {self.account.name} ({self.account.id})"]
        for dialect, issued in self.issued.items():
            lines.append(f"  {dialect.value}:")
            lines += [f"    {k}: {v}" for k, v in issued.shown.items()]
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        """What ``convroute accounts create --json`` prints."""
        return {
            "account": {"id": self.account.id, "name": self.account.name},
            "credentials": {d.value: i.shown for d, i in self.issued.items()},
        }


def validate_account_name(name: str) -> str:
    """A trimmed name of 1 to 200 printable characters."""
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise ValidationError.field("name", "must be 1 to 200 printable characters")
    return name


def issue_credential(
    account_id: str,
    dialect: Dialect,
    traffic_class: TrafficClass,
    now_ms: int,
    signature_method: SignatureMethod = SignatureMethod.SHA256,
    workspace_id: str | None = None,
) -> IssuedCredential:
    """Generate a credential of ``dialect`` for the account."""
    shown = {"traffic_class": traffic_class.value}
    blank = Credential(
        id=new_id(now_ms),
        account_id=account_id,
        dialect=dialect,
        key_id="",
        secret_hash="",
        traffic_class=traffic_class,
        created_ms=now_ms,
    )
    if dialect is Dialect.PLIVO:
        auth_id, token = cred.new_plivo_auth_id(), cred.new_plivo_auth_token()
        return IssuedCredential(
            replace(blank, key_id=auth_id, secret_hash=cred.hash_secret(token)),
            {"auth_id": auth_id, "auth_token": token, **shown},
        )
    if dialect is Dialect.TWILIO:
        sid, token = cred.new_twilio_account_sid(), cred.new_twilio_auth_token()
        return IssuedCredential(
            replace(blank, key_id=sid, secret_hash=cred.hash_secret(token)),
            {"account_sid": sid, "auth_token": token, **shown},
        )
    if dialect is Dialect.VONAGE:
        key, secret = cred.new_vonage_api_key(), cred.new_vonage_api_secret()
        sig = cred.new_signature_secret()
        credential = replace(
            blank,
            key_id=key,
            secret_hash=cred.hash_secret(secret),
            signature_method=signature_method,
            signature_secret=sig,
        )
        return IssuedCredential(
            credential,
            {
                "api_key": key,
                "api_secret": secret,
                "signature_secret": sig,
                "signature_method": signature_method.value,
                **shown,
            },
        )
    # Bearer-style keys (Bird access key, native token) are looked up by their digest.
    if dialect is Dialect.BIRD:
        access_key = cred.new_bird_access_key()
        workspace = workspace_id or new_id(now_ms)
        digest = cred.hash_secret(access_key)
        return IssuedCredential(
            replace(blank, key_id=digest, secret_hash=digest, workspace_id=workspace),
            {"access_key": access_key, "workspace_id": workspace, **shown},
        )
    token = cred.new_native_token()
    digest = cred.hash_secret(token)
    return IssuedCredential(
        replace(blank, key_id=digest, secret_hash=digest), {"token": token, **shown}
    )


MAX_OVERLAP_S = 30 * 24 * 3600
"""The longest a rotated credential keeps working beside its replacement."""

MAX_RATE_LIMIT = 1_000_000.0


class CredentialStore(Protocol):
    """What rotating a credential needs from the store."""

    def credential(self, account_id: str, credential_id: str) -> Credential: ...

    def add_credential(self, issued: IssuedCredential) -> None: ...

    def revoke_credential(self, account_id: str, credential_id: str, at_ms: int) -> int: ...


@dataclass(frozen=True)
class Rotation:
    """A rotated credential: its replacement (secrets shown once) and when the old one stops."""

    issued: IssuedCredential
    old_id: str
    old_stops_ms: int


def rotate_credential(
    store: CredentialStore, account_id: str, credential_id: str, now_ms: int, overlap_s: int
) -> Rotation:
    """Issue a credential like ``credential_id`` (same dialect, traffic class, workspace and
    signature method, new key and secret) and make the old one stop ``overlap_s`` from now,
    so clients move over without a moment in which neither works."""
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise ValidationError.field("overlap_seconds", f"must be from 0 to {MAX_OVERLAP_S}")
    old = store.credential(account_id, credential_id)
    if not old.live_at(now_ms):
        raise ValidationError.field("credential", "is revoked already: issue a new one instead")
    issued = issue_credential(
        account_id,
        old.dialect,
        old.traffic_class,
        now_ms,
        old.signature_method or SignatureMethod.SHA256,
        old.workspace_id,
    )
    store.add_credential(issued)
    stops = store.revoke_credential(account_id, credential_id, now_ms + overlap_s * 1000)
    return Rotation(issued, old.id, stops)


def check_rate_limit(per_second: float | None) -> float | None:
    """An account's request rate: None (the default) or a positive number per second."""
    if per_second is None:
        return None
    if isinstance(per_second, bool) or not 0 < per_second <= MAX_RATE_LIMIT:
        raise ValidationError.field(
            "rate_limit_per_second", f"must be above 0 and at most {MAX_RATE_LIMIT:g}, or null"
        )
    return float(per_second)


def new_account(name: str, traffic_class: TrafficClass, now_ms: int) -> NewAccount:
    """An account with one credential per dialect, all of ``traffic_class``."""
    account = Account(id=new_id(now_ms), name=validate_account_name(name), created_ms=now_ms)
    issued = {d: issue_credential(account.id, d, traffic_class, now_ms) for d in Dialect}
    return NewAccount(account, issued)
