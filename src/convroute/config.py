"""Settings: one frozen object, built once from ``CONVROUTE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from convroute.domain.errors import ValidationError
from convroute.routing.delay_learn import FIT_EVERY_S


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Each field ``x`` is read from ``CONVROUTE_X``."""

    database_url: str = "sqlite:///convroute.db"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # Fernet key for recoverable secrets. With SQLite and no key, one is kept beside the
    # database file; PostgreSQL deployments must set it (every instance the same).
    secret_key: str | None = None
    window_sweep_seconds: float = 5.0
    # Retention (docs/api.md, "Retention"): messages and everything about them are deleted
    # this many days after they were sent (0: kept for ever), in batches of retention_batch,
    # looked for every retention_sweep_seconds.
    retention_days: float = 0.0
    retention_batch: int = 1000
    retention_sweep_seconds: float = 600.0
    max_body_bytes: int = 64 * 1024
    # The HTTP server's bounds (docs/api.md, "Limits"): time to send a request's headers, then
    # its body; open connections (past it: 503); idle time between requests.
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 30.0
    http_max_header_bytes: int = 32 * 1024
    max_connections: int = 1000
    http_keep_alive_seconds: int = 5
    # TLS: a PEM certificate (chain) and its key; unset: plain HTTP (e.g. behind a proxy).
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Proxies whose X-Forwarded-For/-Proto are trusted (comma-separated addresses or "*");
    # unset: the peer's address is the client's (rate limits count it).
    forwarded_allow_ips: str | None = None
    log_level: str = "info"
    access_log: bool = False
    auth_cache_seconds: float = 30.0
    # how often each instance checks whether a credential was revoked or an account changed
    auth_refresh_seconds: float = 1.0
    # Live routing (docs/routing.md, "In the service"): the policy every send asks, what it
    # optimizes, and how often the event log is read back into it.
    routing_policy: str = "convroute"
    routing_goal: str = "conversions"  # conversions | value | cheapest-within
    routing_lambda: float = 0.0  # value = conversion - lambda * price (goal "value")
    routing_epsilon: float = 0.02  # tolerated rate loss (goal "cheapest-within")
    routing_window_seconds: float = 600.0  # a decision's conversion is final after this
    routing_delay_median_seconds: float = 20.0  # conversion delay: log-normal, this median
    routing_delay_sigma: float = 1.0
    # learn the delay from the log's conversions (the two above its prior), on a grid of
    # routing_delay_fit_seconds of the log's time (docs/routing.md, "The conversion delay")
    routing_learn_delay: bool = True
    routing_delay_fit_seconds: float = FIT_EVERY_S
    routing_tail_seconds: float = 0.2
    # how often a checkpoint of the router's state is made (in a child process, from the
    # log), so a server starts from it and replays only the log since (0: never)
    routing_checkpoint_seconds: float = 300.0
    # Scenario seconds per real second, for simulated traffic played faster than real time
    # (the demo, tests): divides the router's memories (1 h, 200 s) and its 2 h of retention.
    routing_pace: float = 1.0
    routing_seed: int | None = None  # fixed: the same decisions for the same log (tests)
    # Bearer token for operator endpoints (routes, route quality); unset: those are refused.
    admin_token: str | None = None
    # Rate limits (docs/api.md, "Rate limits"): failed authentications per credential id and
    # per client address in a window, then 429 until it ends; each account's requests per
    # second (0: none; an account's own rate, set by the operator, wins). Counted in this
    # process, or across instances in Redis when redis_url is set.
    auth_failures_per_key: int = 10
    auth_failures_per_address: int = 50
    auth_failure_window_seconds: float = 300.0
    account_rate_limit: float = 0.0
    redis_url: str | None = None
    # Delivery (docs/routing.md, "Delivery"): how long an instance holds an outbox entry it is
    # submitting before another may (after a crash, a restart resumes it once this lapsed),
    # and how often each instance looks for entries to resume.
    outbox_lease_seconds: float = 15.0
    outbox_poll_seconds: float = 1.0
    # The address providers reach this service at (e.g. https://convroute.example.com): a
    # provider route's status callbacks are {public_url}/callbacks/{route_id}, and their
    # signatures cover that URL. Unset: the address the server listens on.
    public_url: str | None = None
    # Where the writer runs (docs/operations.md, "The writer process"): "process", a child
    # process of each server worker, on a core of its own; "thread", a thread of the server
    # (sharing its GIL); "auto": a process under `convroute serve`, a thread elsewhere (an
    # app built in-process, the CLI).
    writer: str = "auto"
    # Verify's fraud guard (docs/api.md, "Verify"): verifications an account may start per
    # hour to one number prefix (its first verify_prefix_digits digits) and to one country.
    verify_prefix_digits: int = 8
    verify_per_prefix_per_hour: int = 30
    verify_per_country_per_hour: int = 3000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then ``overrides`` (those that are not None)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get("CONVROUTE_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values).validated()

    def validated(self) -> Settings:
        """Raise ValidationError on values that cannot work."""
        if not 0 < self.port < 65536:
            raise ValidationError.field("port", "must be between 1 and 65535")
        if not 1 <= self.workers <= 64:
            raise ValidationError.field("workers", "must be between 1 and 64")
        if self.auth_refresh_seconds <= 0:
            raise ValidationError.field("auth_refresh_seconds", "must be positive")
        from convroute.services.retention import check_retention

        check_retention(self.retention_days)
        if not 1 <= self.retention_batch <= 100_000:
            raise ValidationError.field("retention_batch", "must be from 1 to 100000")
        if self.retention_sweep_seconds <= 0:
            raise ValidationError.field("retention_sweep_seconds", "must be positive")
        if not 3 <= self.verify_prefix_digits <= 15:
            raise ValidationError.field("verify_prefix_digits", "must be from 3 to 15")
        for name in ("verify_per_prefix_per_hour", "verify_per_country_per_hour"):
            if not 1 <= getattr(self, name) <= 10_000_000:
                raise ValidationError.field(name, "must be from 1 to 10000000")
        if not 1 <= self.outbox_lease_seconds <= 3600:
            raise ValidationError.field("outbox_lease_seconds", "must be from 1 to 3600")
        if not 0 < self.outbox_poll_seconds <= 60:
            raise ValidationError.field("outbox_poll_seconds", "must be above 0 and at most 60")
        if self.public_url is not None and (
            not self.public_url.startswith(("http://", "https://"))
            or "?" in self.public_url
            or len(self.public_url.split("/", 3)[2]) == 0
        ):
            raise ValidationError.field(
                "public_url", "must be an http:// or https:// address with a host and no query"
            )
        if self.writer not in ("auto", "thread", "process"):
            raise ValidationError.field("writer", "must be auto, thread or process")
        if self.window_sweep_seconds <= 0:
            raise ValidationError.field("window_sweep_seconds", "must be positive")
        for name in ("http_header_timeout_seconds", "http_body_timeout_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValidationError.field(name, "must be above 0 and at most 3600")
        if not 1024 <= self.http_max_header_bytes <= 1024 * 1024:
            raise ValidationError.field("http_max_header_bytes", "must be from 1024 to 1048576")
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValidationError.field("max_connections", "must be from 1 to 1000000")
        if not 1 <= self.http_keep_alive_seconds <= 3600:
            raise ValidationError.field("http_keep_alive_seconds", "must be from 1 to 3600")
        for name in ("ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ValidationError.field(name, f"{path} is not a file")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValidationError.field("ssl_certfile", "is required with ssl_keyfile")
        if self.max_body_bytes < 1024:
            raise ValidationError.field("max_body_bytes", "must be at least 1024")
        if self.routing_goal not in ("conversions", "value", "cheapest-within"):
            raise ValidationError.field(
                "routing_goal", "must be conversions, value or cheapest-within"
            )
        from convroute.routing.policies import POLICIES

        if self.routing_policy not in POLICIES:
            raise ValidationError.field("routing_policy", f"must be one of {', '.join(POLICIES)}")
        for name in (
            "routing_tail_seconds",
            "routing_window_seconds",
            "routing_delay_median_seconds",
            "routing_delay_sigma",
            "routing_delay_fit_seconds",
            "routing_pace",
        ):
            if getattr(self, name) <= 0:
                raise ValidationError.field(name, "must be positive")
        if self.routing_checkpoint_seconds != 0 and not self.routing_checkpoint_seconds >= 10:
            raise ValidationError.field(
                "routing_checkpoint_seconds", "must be 0 (never) or at least 10"
            )
        for name in ("auth_failures_per_key", "auth_failures_per_address"):
            if getattr(self, name) < 0:
                raise ValidationError.field(name, "must be 0 (off) or more")
        if self.auth_failure_window_seconds < 1:
            raise ValidationError.field("auth_failure_window_seconds", "must be at least 1")
        if not 0 <= self.account_rate_limit <= 1_000_000:
            raise ValidationError.field("account_rate_limit", "must be from 0 (off) to 1000000")
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValidationError.field("redis_url", "must be redis://, rediss:// or unix://")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ValidationError.field("admin_token", "must be at least 16 characters")
        return self

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for worker processes)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out["CONVROUTE_" + f.name.upper()] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
        return out


def _convert(name: str, kind: str, raw: str) -> Any:
    kind = kind.removesuffix(" | None")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ValidationError.field(
            name, f"CONVROUTE_{name.upper()}={raw!r} is not a {kind}"
        ) from None
    return raw
