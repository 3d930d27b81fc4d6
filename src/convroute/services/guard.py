"""The fraud guard in front of Verify (DESIGN 3b; what Twilio's Fraud Guard and Geo
Permissions do): before a code is sent, the account's countries (allowed, blocked,
monitored), the rate of verifications to the number's prefix and country, and the pumping
watch's episodes for the number's destination decide whether it may go. A refused
verification sends nothing and costs nothing; it is counted (``convroute_verify_guard_total``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convroute.domain.destinations import Destination
from convroute.domain.errors import ForbiddenError, RateLimitedError, ValidationError
from convroute.domain.fraud import Counts, affected
from convroute.domain.models import Principal

PUMPING_MODES = ("block", "always", "hold", "monitor")
HOUR_MS = 3_600_000
RETRY_AFTER_S = 60  # the limits count over a sliding hour
MAX_COUNTRIES = 250


class GuardRefusal(ForbiddenError):
    """The guard refused a verification: ``code`` says why (``country_blocked``,
    ``fraud_suspected``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """An account's countries (ISO 3166 alpha-2; ``allowed`` empty: every one not blocked)
    and what a pumping episode on the destination does: ``block`` refuses the prefixes the
    attack uses (``domain.fraud.affected``), ``always`` refuses such prefixes whether or not
    the watch has raised an episode (it catches attacks the watch misses, and may refuse a
    network in an outage: docs/api.md), ``hold`` refuses the whole destination until the
    episode clears, ``monitor`` sends and counts."""

    allowed: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    monitored: tuple[str, ...] = ()
    pumping: str = "block"

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed_countries": list(self.allowed),
            "blocked_countries": list(self.blocked),
            "monitored_countries": list(self.monitored),
            "pumping": self.pumping,
        }


DEFAULT_POLICY = GuardPolicy()


def _countries(name: str, values: Any) -> tuple[str, ...]:
    if not isinstance(values, list) or len(values) > MAX_COUNTRIES:
        raise ValidationError.field(name, f"must be a list of at most {MAX_COUNTRIES} countries")
    out = []
    for value in values:
        if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
            raise ValidationError.field(name, "must hold ISO 3166 alpha-2 codes such as GB")
        if value.upper() not in out:
            out.append(value.upper())
    return tuple(out)


def policy_of(doc: Any) -> GuardPolicy:
    """A policy from its JSON form, checked whole (a ValidationError names the field)."""
    if not isinstance(doc, dict):
        raise ValidationError("the guard must be a JSON object", {"body": ["must be an object"]})
    known = {"allowed_countries", "blocked_countries", "monitored_countries", "pumping"}
    for key in doc:
        if key not in known:
            raise ValidationError.field(str(key), "is not a field of the guard")
    pumping = doc.get("pumping", "block")
    if pumping not in PUMPING_MODES:
        raise ValidationError.field("pumping", f"must be one of {', '.join(PUMPING_MODES)}")
    policy = GuardPolicy(
        allowed=_countries("allowed_countries", doc.get("allowed_countries", [])),
        blocked=_countries("blocked_countries", doc.get("blocked_countries", [])),
        monitored=_countries("monitored_countries", doc.get("monitored_countries", [])),
        pumping=pumping,
    )
    both = set(policy.allowed) & set(policy.blocked)
    if both:
        raise ValidationError.field(
            "blocked_countries", f"{', '.join(sorted(both))} cannot be allowed and blocked"
        )
    return policy


def policy_text(policy: GuardPolicy) -> str | None:
    """How a policy is stored (None: the defaults)."""
    return None if policy == DEFAULT_POLICY else json.dumps(policy.to_json())


def policy_from_text(text: str | None) -> GuardPolicy:
    return DEFAULT_POLICY if not text else policy_of(json.loads(text))


@dataclass(frozen=True, slots=True)
class Limits:
    """Verifications an account may start per hour to one prefix (the number's first
    ``prefix_digits`` digits after ``+``) and to one country."""

    prefix_digits: int = 8
    per_prefix_per_hour: int = 30
    per_country_per_hour: int = 3000


@dataclass
class Guard:
    """Decides whether a verification may go; ``count(account, decision, reason, country)``
    is told every refusal and every monitored one."""

    policy_of: Callable[[str], GuardPolicy]  # account id -> its policy
    # account id, since ms, country, number prefix -> verifications started
    started: Callable[[str, int, str | None, str | None], int]
    # the destination, now -> whether a pumping episode is in progress on it
    pumping: Callable[[Destination, int], bool]
    # account id, number prefix, country, now -> the settled verifications of the last hour
    # to the prefix and to the country (``domain.fraud.Counts``)
    outcomes: Callable[[str, str, str, int], tuple[Counts, Counts]] = lambda a, p, c, n: (
        Counts(0, 0), Counts(0, 0),
    )  # fmt: skip
    limits: Limits = field(default_factory=Limits)
    count: Callable[[str, str, str, str], None] = lambda account, decision, reason, country: None

    def admit(self, principal: Principal, dest: Destination, now_ms: int) -> None:
        """Nothing if the verification may go; else the refusal (GuardRefusal, 403, or
        RateLimitedError, 429), counted."""
        policy = self.policy_of(principal.account_id)
        country = dest.country
        if country in policy.blocked or (policy.allowed and country not in policy.allowed):
            self._refuse(principal.account_id, "country_blocked", country)
            raise GuardRefusal(
                "country_blocked", f"verifications to {country} are not allowed for this account"
            )
        prefix = dest.e164[: 1 + self.limits.prefix_digits]
        if policy.pumping == "always" or self.pumping(dest, now_ms):
            self._pumping(policy, principal.account_id, dest, prefix, now_ms)
        since = now_ms - HOUR_MS
        for reason, where, to_country, to_prefix, limit in (
            ("prefix_rate", f"numbers starting {prefix}", None, prefix,
             self.limits.per_prefix_per_hour),
            ("country_rate", country, country, None, self.limits.per_country_per_hour),
        ):  # fmt: skip
            if self.started(principal.account_id, since, to_country, to_prefix) >= limit:
                self._refuse(principal.account_id, reason, country)
                raise RateLimitedError(
                    f"too many verifications to {where} in the last hour (at most {limit})",
                    RETRY_AFTER_S,
                )
        if country in policy.monitored:
            self.count(principal.account_id, "monitored", "country", country)

    def _pumping(
        self, policy: GuardPolicy, account_id: str, dest: Destination, prefix: str, now_ms: int
    ) -> None:
        """A pumping episode is in progress on ``dest``: refuse as the policy says."""
        country, where = dest.country, dest.network or dest.country
        if policy.pumping == "monitor":
            self.count(account_id, "monitored", "pumping", country)
            return
        if policy.pumping == "hold":
            self._refuse(account_id, "fraud_suspected", country)
            raise GuardRefusal(
                "fraud_suspected",
                f"verifications to {where} are held: traffic pumping is suspected on this "
                "destination (its conversions fell while sends rose)",
            )
        mine, everyone = self.outcomes(account_id, prefix, country, now_ms)
        if affected(mine, everyone):
            self._refuse(account_id, "fraud_suspected", country)
            raise GuardRefusal(
                "fraud_suspected",
                f"verifications to numbers starting {prefix} are refused: traffic pumping is "
                f"suspected ({where}): of this prefix's last {mine.settled} verifications "
                f"{mine.converted} were completed, against {everyone.rate:.0%} to {country}",
            )

    def _refuse(self, account_id: str, reason: str, country: str) -> None:
        self.count(account_id, "refused", reason, country)
