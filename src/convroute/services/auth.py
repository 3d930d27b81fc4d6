"""Authentication: from a dialect's key material to a ``Principal``.

Credentials are cached in memory (hits cost no I/O). A cached credential is forgotten when
its revocation time comes, and every instance forgets its whole cache when the store's
credential watermark moves (a credential revoked, an account changed: ``refresh``, polled
every second by the server), so a revoked credential gets 401 at once on every instance.
Unknown keys are cached briefly too, so a flood of bad keys does not become a flood of
queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from convroute.domain.clock import Clock
from convroute.domain.credentials import hash_secret, secret_matches
from convroute.domain.errors import AuthenticationError
from convroute.domain.models import Account, Credential, Principal
from convroute.domain.statuses import Dialect
from convroute.services.ports import CredentialLookup

_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class _Entry:
    found: tuple[Credential, Account] | None
    expires_ms: int


MISS = object()
_NO_HASH = hash_secret("")


class Authenticator:
    """Resolves credentials, with a TTL cache in front of the store."""

    def __init__(
        self,
        lookup: CredentialLookup,
        clock: Clock,
        ttl_ms: int = 30_000,
        negative_ttl_ms: int = 2_000,
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._negative_ttl_ms = negative_ttl_ms
        self._cache: dict[tuple[Dialect, str], _Entry] = {}
        self._watermark: object = None

    def peek(self, dialect: Dialect, key_id: str) -> tuple[Credential, Account] | object | None:
        """The cached lookup, or ``MISS``: never does I/O (safe on the event loop)."""
        entry = self._cache.get((dialect, key_id))
        if entry is None or entry.expires_ms < self._clock():
            return MISS
        return entry.found

    def load(self, dialect: Dialect, key_id: str) -> tuple[Credential, Account] | None:
        """Look the credential up in the store and cache the answer (blocking). A credential
        whose revocation time has come is not found."""
        found = self._lookup(dialect, key_id)
        now = self._clock()
        if found is not None and not found[0].live_at(now):
            found = None
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        expires = now + (self._ttl_ms if found else self._negative_ttl_ms)
        if found is not None and found[0].revoked_ms is not None:
            expires = min(expires, found[0].revoked_ms - 1)  # asked again once it stops
        self._cache[(dialect, key_id)] = _Entry(found, expires)
        return found

    def clear(self) -> None:
        """Forget every cached lookup (after a change made in this process)."""
        self._cache.clear()

    def refresh(self, watermark: object) -> bool:
        """Forget the cache when the store's credential watermark moved; whether it did."""
        moved = watermark != self._watermark
        if moved:
            if self._watermark is not None:
                self._cache.clear()
            self._watermark = watermark
        return moved


def bearer_key_id(token: str) -> str:
    """The key id a bearer-style key is stored under."""
    return hash_secret(token)


def principal_of(found: tuple[Credential, Account] | None, secret: str | None) -> Principal:
    """The principal for a looked-up credential; ``secret`` (when given) must match its hash."""
    if found is None:
        if secret is not None:  # the same work as a wrong secret: timing tells nothing
            secret_matches(secret, _NO_HASH)
        raise AuthenticationError("invalid credentials")
    credential, account = found
    if secret is not None and not secret_matches(secret, credential.secret_hash):
        raise AuthenticationError("invalid credentials")
    return Principal(
        account_id=account.id,
        credential_id=credential.id,
        dialect=credential.dialect,
        traffic_class=credential.traffic_class,
        conversions_enabled=account.conversions_enabled,
        workspace_id=credential.workspace_id,
        rate_limit_per_second=account.rate_limit_per_second,
        routing=account.routing,
    )
