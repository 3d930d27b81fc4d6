"""Domain errors. They carry no HTTP codes: each dialect maps them to its own wire format.

ConvrouteError
├── ValidationError        bad input, with per-field details
│   └── NoRouteError       no enabled route serves the destination
├── NotFoundError          unknown (or another account's) resource
├── AuthenticationError    missing or wrong credentials
│   └── ReplayError        a signed request already accepted once
├── ForbiddenError         authenticated, but not allowed
│   └── ConversionsDisabledError  the account may not report conversions
├── ConflictError          the resource already exists
├── RateLimitedError       too many requests or failed authentications: retry later
└── StorageError           the store failed; nothing was acknowledged
    └── WriteConflict      another writer committed the same unique key first: run again
"""

from __future__ import annotations

from collections.abc import Mapping


class ConvrouteError(Exception):
    """Base of every error convroute raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ConvrouteError):
    """The input is invalid. ``details`` maps a field name to what is wrong with it."""

    code = "validation_error"

    def __init__(self, message: str, details: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, list[str]] = dict(details or {})

    @classmethod
    def field(cls, name: str, problem: str) -> ValidationError:
        """An error about one field."""
        return cls(f"{name}: {problem}", {name: [problem]})


class NoRouteError(ValidationError):
    """No enabled route serves the message's destination."""

    code = "no_route"


class NotFoundError(ConvrouteError):
    """The resource does not exist, or belongs to another account (never told apart)."""

    code = "not_found"


class AuthenticationError(ConvrouteError):
    """The credentials are missing or wrong."""

    code = "unauthorized"


class ReplayError(AuthenticationError):
    """A signed request that was already accepted: its signature is single-use."""

    code = "replayed"


class ForbiddenError(ConvrouteError):
    """The credentials are right but the action is not allowed for this account."""

    code = "forbidden"


class ConversionsDisabledError(ForbiddenError):
    """The account has conversion reporting turned off."""

    code = "conversions_disabled"


class ConflictError(ConvrouteError):
    """The resource already exists."""

    code = "conflict"


class StorageError(ConvrouteError):
    """The store could not complete the operation; nothing was acknowledged."""

    code = "storage_error"


class WriteConflict(StorageError):
    """A concurrent writer (another instance on the same database) committed a row with the
    same unique key, or the database chose this transaction to abort; carried out again, the
    command sees that row (a duplicate report, a replayed signature) and answers as such."""

    code = "write_conflict"


class RateLimitedError(ConvrouteError):
    """Too many requests (or failed authentications): wait ``retry_after_s`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
