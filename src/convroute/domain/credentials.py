"""Credential material: generating keys and secrets, hashing and checking them.

Every secret convroute issues is random with at least 128 bits of entropy, so a plain SHA-256
is the right hash: a slow password hash would add nothing against brute force and would cost
milliseconds on every request. Checks compare digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_UPPER_ALNUM = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def random_text(length: int, alphabet: str = _ALNUM) -> str:
    """A random string from the OS CSPRNG."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_secret(secret: str) -> str:
    """The stored form of a secret: hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time check of a secret against its stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_plivo_auth_id() -> str:
    """A Plivo-shaped auth id: ``MA`` and 18 upper-case letters or digits."""
    return "MA" + random_text(18, _UPPER_ALNUM)


def new_twilio_account_sid() -> str:
    """A Twilio-shaped Account SID: ``AC`` and 32 lower-case hex digits."""
    return "AC" + secrets.token_hex(16)


def new_twilio_auth_token() -> str:
    """A Twilio-shaped auth token: 32 lower-case hex digits."""
    return secrets.token_hex(16)


def new_plivo_auth_token() -> str:
    """A Plivo-shaped auth token (40 characters)."""
    return random_text(40)


def new_vonage_api_key() -> str:
    """A Vonage-shaped API key (8 hex digits)."""
    return secrets.token_hex(4)


def new_vonage_api_secret() -> str:
    """A Vonage-shaped API secret (16 characters, ~95 bits)."""
    return random_text(16)


def new_signature_secret() -> str:
    """A Vonage signature secret (48 characters)."""
    return random_text(48)


def new_bird_access_key() -> str:
    """A Bird-shaped access key (36 characters)."""
    return random_text(36)


def new_native_token() -> str:
    """A native API bearer token."""
    return "cr_" + secrets.token_urlsafe(32)
