"""Verifications (DESIGN 3b): convroute generates a one-time code, keeps only a keyed hash of
it, sends it in a routed message and checks what the user typed. Each outcome is a conversion
event of that message, so routing learns from every verification without a report.

Pure: the code's randomness is injected (``secrets.randbelow`` by default), the key is the
service's, derived from its secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from convroute.domain.errors import ValidationError


class VerificationStatus(StrEnum):
    """Where a verification is: ``pending`` until its code is checked right (``approved``),
    it is canceled, its time runs out (``expired``) or the wrong codes used up its attempts
    (``max_attempts_reached``)."""

    PENDING = "pending"
    APPROVED = "approved"
    CANCELED = "canceled"
    EXPIRED = "expired"
    MAX_ATTEMPTS = "max_attempts_reached"


CHANNELS = ("sms",)  # what the routes carry; voice and e-mail are other products
CODE_LENGTHS = (4, 10)
DEFAULT_CODE_LENGTH = 6
EXPIRY_S = (60, 86_400)
DEFAULT_EXPIRY_S = 600
ATTEMPTS = (1, 10)
DEFAULT_ATTEMPTS = 5
MAX_SENDS = 5  # the first send and four resends: more is a script, not a user
MAX_TEMPLATE = 640
DEFAULT_SENDER = "Verify"

# The message in the user's language (BCP 47 primary tag); others fall back to English.
TEMPLATES = {
    "en": "Your verification code is {code}. It expires in {minutes} minutes.",
    "fr": "Votre code de vérification est {code}. Il expire dans {minutes} minutes.",
    "de": "Ihr Bestätigungscode lautet {code}. Er läuft in {minutes} Minuten ab.",
    "es": "Tu código de verificación es {code}. Caduca en {minutes} minutos.",
    "pt": "O seu código de verificação é {code}. Expira em {minutes} minutos.",
    "it": "Il tuo codice di verifica è {code}. Scade tra {minutes} minuti.",
    "nl": "Uw verificatiecode is {code}. Deze verloopt over {minutes} minuten.",
}


@dataclass(frozen=True, slots=True)
class Verification:
    """One verification as stored: the code only as ``code_hash``."""

    id: str
    account_id: str
    to: str  # E.164, with +
    country: str
    network: str | None
    channel: str
    locale: str
    code_length: int
    code_hash: str
    status: VerificationStatus
    attempts: int  # checks made
    max_attempts: int
    sends: int  # messages sent: 1 + resends
    message_id: str  # the latest message: outcomes are its conversion events
    route_id: str | None
    client_ref: str | None
    created_ms: int
    expires_ms: int
    updated_ms: int

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts)

    def client_ref_of_messages(self) -> str:
        """The client reference of the verification's messages: a resend avoids the route of
        the message before it (``services/messaging.send_messages``)."""
        return message_ref(self.id)


def message_ref(verification_id: str) -> str:
    """The client reference every message of a verification carries."""
    return f"verify:{verification_id}"


def new_code(length: int, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A code of ``length`` decimal digits, uniformly random (leading zeros kept)."""
    return str(randbelow(10**length)).zfill(length)


def code_hash(key: bytes, verification_id: str, code: str) -> str:
    """The keyed hash a code is kept as: HMAC-SHA256 under the service's key, bound to the
    verification (a leaked table gives neither the codes nor a way to try them offline)."""
    return hmac.new(key, f"{verification_id}\0{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(key: bytes, verification: Verification, code: str) -> bool:
    """Whether ``code`` is the verification's, compared in constant time."""
    return hmac.compare_digest(code_hash(key, verification.id, code), verification.code_hash)


def verify_key(secret: str) -> bytes:
    """The key codes are hashed under, derived from the service's secret key."""
    return hmac.new(secret.encode(), b"convroute verification codes", hashlib.sha256).digest()


def language(locale: str | None) -> str:
    """The primary language of a locale (``pt-BR`` -> ``pt``), checked for shape."""
    if locale is None:
        return "en"
    tag = locale.replace("_", "-")
    primary = tag.split("-", 1)[0].lower()
    if not (2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha()) or len(tag) > 35:
        raise ValidationError.field("locale", "must be a language tag such as en or pt-BR")
    return primary


def check_template(template: str | None) -> str | None:
    """A customer's own message: it must hold ``{code}`` (and may hold ``{minutes}``)."""
    if template is None:
        return None
    if "{code}" not in template:
        raise ValidationError.field("template", "must contain {code}")
    if len(template) > MAX_TEMPLATE:
        raise ValidationError.field("template", f"must be at most {MAX_TEMPLATE} characters")
    return template


def message_text(template: str | None, locale: str, code: str, expiry_s: int) -> str:
    """The text sent: the template (or the locale's) with the code and the minutes it lasts.
    Plain replacement, not ``str.format``: a template is the customer's text."""
    text = template or TEMPLATES.get(language(locale), TEMPLATES["en"])
    minutes = max(1, round(expiry_s / 60))
    return text.replace("{code}", code).replace("{minutes}", str(minutes))


def in_range(name: str, value: int, bounds: tuple[int, int]) -> int:
    """``value`` if within ``bounds``, else a ValidationError naming ``name``."""
    low, high = bounds
    if not low <= value <= high:
        raise ValidationError.field(name, f"must be from {low} to {high}")
    return value
