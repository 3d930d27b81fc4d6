"""The one place that wires convroute: picks SQLite or PostgreSQL, the secret key, the store,
the writer and the authenticator. Nothing here runs at import time."""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from convroute import logs
from convroute.config import Settings
from convroute.connectors.dispatch import Dispatcher
from convroute.domain.clock import Clock, format_iso, system_clock
from convroute.domain.destinations import Destination
from convroute.domain.errors import ConvrouteError, ValidationError
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.domain.verify import verify_key
from convroute.observe.metrics import Metrics
from convroute.routing.anomalies import PUMPING
from convroute.routing.base import Goal, Objective
from convroute.routing.delay import ConversionDelay
from convroute.routing.policies import make_policy
from convroute.services.auth import Authenticator
from convroute.services.checkpoints import (
    Checkpointing,
    Made,
    routing_compiled,
    routing_key,
    signing_key,
)
from convroute.services.follower import LogFollower
from convroute.services.guard import Guard
from convroute.services.guard import Limits as GuardLimits
from convroute.services.quality import RouterReads
from convroute.services.ratelimit import Counter, Limiter, Limits, MemoryCounter
from convroute.services.router import LiveRouter, anomaly_watch
from convroute.services.verify import Verifier
from convroute.services.writer import handle_batch
from convroute.storage.checkpoints import SqlCheckpoints
from convroute.storage.engines import backend_of, create_engines, normalize_url, sqlite_path
from convroute.storage.groupcommit import BatchWriter, GroupCommitter
from convroute.storage.secretbox import SecretBox, key_file_for, load_or_create_key_file
from convroute.storage.store import SqlStore
from convroute.storage.tail import SqlEventLog
from convroute.storage.verifications import SqlVerifications
from convroute.storage.verify_insights import record_guard
from convroute.storage.writerproc import RemoteRouter, WriterProcess, child_env

log = logging.getLogger("convroute.routing")


@dataclass
class Container:
    """Everything a running convroute needs, built by ``bootstrap``."""

    settings: Settings
    clock: Clock
    store: SqlStore
    committer: GroupCommitter
    auth: Authenticator
    router: LiveRouter
    follower: LogFollower
    dispatcher: Dispatcher
    limiter: Limiter
    metrics: Metrics
    checkpoints: Checkpointing
    # what operators read of the router that routes this worker's sends: ``router`` itself,
    # or, with the writer in its own process, that process's router (``RemoteRouter``)
    reads: RouterReads
    verifier: Verifier

    @property
    def routes_elsewhere(self) -> bool:
        """Whether the writer process routes (and reads the log), not this process."""
        return isinstance(self.reads, RemoteRouter)

    def log_progress(self) -> tuple[int, int, int]:
        """The routing router's log entries applied, reads of the log, failed reads."""
        if isinstance(self.reads, RemoteRouter):
            return self.reads.progress()
        return self.router.applied, self.follower.polls, self.follower.failures

    def close(self) -> None:
        """Stop the log follower and the writer, and release the database."""
        self.follower.stop()
        self.committer.stop()
        self.store.close()


def public_url(settings: Settings) -> str:
    """Where providers reach this service (their status callbacks)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if settings.ssl_certfile else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def secret_key(settings: Settings) -> str:
    """The Fernet key: from settings, else (SQLite only) a key file beside the database."""
    if settings.secret_key:
        return settings.secret_key
    url = normalize_url(settings.database_url)
    if backend_of(url) == "postgresql":
        raise ValidationError.field(
            "secret_key",
            "CONVROUTE_SECRET_KEY is required with PostgreSQL (the same on every instance); "
            "make one with: convroute secret-key",
        )
    path = sqlite_path(url)
    assert path is not None
    return load_or_create_key_file(key_file_for(path))


def bootstrap(settings: Settings, clock: Clock = system_clock, migrate: bool = True) -> Container:
    """Build the container. With ``migrate``, bring the schema up to date first."""
    logs.route_events()
    metrics = Metrics()
    store = SqlStore(create_engines(settings.database_url), SecretBox(secret_key(settings)))
    if migrate:
        store.migrate()
    router = live_router(settings)
    checkpoints = checkpointing(settings, store)
    lease_ms = int(settings.outbox_lease_seconds * 1000)
    committer, reads = writer(settings, store, router, clock, metrics)
    dispatcher = Dispatcher(
        committer.execute,
        store.routes,
        clock,
        lease_ms=lease_ms,
        upstream=store.message_of_upstream,
        public_url=public_url(settings),
        metrics=metrics,
    )
    return Container(
        settings=settings,
        clock=clock,
        store=store,
        committer=committer,
        auth=Authenticator(
            store.find_credential, clock, ttl_ms=int(settings.auth_cache_seconds * 1000)
        ),
        router=router,
        follower=LogFollower(
            SqlEventLog(store.engines), router, clock, settings.routing_tail_seconds, checkpoints
        ),
        dispatcher=dispatcher,
        limiter=limiter(settings, clock, metrics),
        metrics=metrics,
        checkpoints=checkpoints,
        reads=reads,
        verifier=verifier(settings, store, dispatcher, committer, reads, clock, metrics),
    )


def verifier(
    settings: Settings,
    store: SqlStore,
    dispatcher: Dispatcher,
    committer: GroupCommitter,
    reads: RouterReads,
    clock: Clock,
    metrics: Metrics,
) -> Verifier:
    """Verify over the writer, its codes hashed under a key derived from the service's
    secret key, behind the fraud guard (the router's pumping episodes hold a destination)."""
    kept = SqlVerifications(store.engines.writer, store.engines.reader)

    def pumping(dest: Destination, now_ms: int) -> bool:
        episodes = reads.anomalies(dest, MessageType.OTP, TrafficClass.TWO_FA, now_ms)
        return any(a.kind == PUMPING and a.active for a in episodes)

    guard = Guard(
        kept.guard,
        kept.started,
        pumping,
        kept.outcomes,
        GuardLimits(
            settings.verify_prefix_digits,
            settings.verify_per_prefix_per_hour,
            settings.verify_per_country_per_hour,
        ),
        functools.partial(_guard_counted, metrics, store, clock),
    )
    return Verifier(
        kept, dispatcher.send, committer.execute, clock, verify_key(secret_key(settings)), guard
    )


def _guard_counted(
    metrics: Metrics, store: SqlStore, clock: Clock, account: str, decision: str, reason: str,
    country: str,
) -> None:  # fmt: skip
    """A refusal (or a monitored verification) of the fraud guard: counted, and kept for the
    dashboard and the insights (nothing else of a refused verification is)."""
    metrics.verify_guard.labels(decision, reason, country).inc()
    record_guard(store.engines.writer, account, decision, reason, country, clock())


def read_the_log(c: Container, where: str = "") -> None:
    """Build ``c``'s router from the newest checkpoint and the log since (a starting
    server's first read), and say how it went."""
    started = c.clock()
    try:
        read = c.follower.catch_up()
    except ConvrouteError as exc:
        log.warning("routing: the event log could not be read at start: %s", exc.message)
        return
    since = c.follower.restored
    log.info(
        "routing: %s, then %s log entries read, in %.1f s (policy %s%s)",
        "no checkpoint"
        if since is None
        else f"restored from the checkpoint of {format_iso(since.created_ms)} "
        f"({since.applied:,} entries)",
        f"{read:,}", (c.clock() - started) / 1000, c.router.name, where,
    )  # fmt: skip


def batch_writer(
    settings: Settings, store: SqlStore, router: LiveRouter, clock: Clock
) -> BatchWriter:
    """What carries out each batch of writes in ``store``, routing the sends by ``router``."""
    lease_ms = int(settings.outbox_lease_seconds * 1000)
    handle = functools.partial(handle_batch, router=router, lease_ms=lease_ms)
    return BatchWriter(store.write, handle, clock)


WRITER_MODULE = "convroute.writer"
"""The writer process's entry point (``python -m convroute.writer FD``)."""


def writer(
    settings: Settings, store: SqlStore, router: LiveRouter, clock: Clock, metrics: Metrics
) -> tuple[GroupCommitter, RouterReads]:
    """The writer the settings describe, and what operators read of the router that routes
    its sends: in this process, ``router``; with ``writer = process``, a child process with
    a router of its own (the worker's only one: ``router`` is then left empty)."""
    if settings.writer != "process":
        return GroupCommitter(batch_writer(settings, store, router, clock), metrics=metrics), router
    process = WriterProcess(WRITER_MODULE, child_env(settings.to_env()))
    return GroupCommitter(process, metrics=metrics), RemoteRouter(process, router.name)


def make_checkpoint(c: Container, now_ms: int | None = None, keep: int = 2) -> Made:
    """A new checkpoint of the router ``c``'s settings describe, from its database's log
    (the latest checkpoint and the log since); the newest ``keep`` kept."""
    return c.checkpoints.make(
        functools.partial(live_router, c.settings),
        functools.partial(SqlEventLog, c.store.engines),
        c.clock() if now_ms is None else now_ms,
        keep,
    )


def checkpointing(settings: Settings, store: SqlStore) -> Checkpointing:
    """The router's checkpoints in ``store``, for these routing settings on this code,
    signed with a key derived from the service's secret key."""
    return Checkpointing(
        SqlCheckpoints(store.engines),
        routing_key(routing_settings(settings), routing_compiled()),
        signing_key(secret_key(settings)),
    )


def limiter(settings: Settings, clock: Clock, metrics: Metrics | None = None) -> Limiter:
    """The rate limiter the settings describe: counters in Redis when a URL is set."""
    counter: Counter = MemoryCounter()
    if settings.redis_url:
        from convroute.storage.counters import RedisCounter

        counter = RedisCounter(settings.redis_url)
    limits = Limits(
        failures_per_key=settings.auth_failures_per_key,
        failures_per_address=settings.auth_failures_per_address,
        failure_window_ms=int(settings.auth_failure_window_seconds * 1000),
        account_per_second=settings.account_rate_limit,
    )
    if metrics is None:
        return Limiter(counter, clock, limits)
    return Limiter(counter, clock, limits, lambda kind: metrics.rate_limited.labels(kind).inc())


ROUTING_SETTINGS = (
    "routing_policy",
    "routing_goal",
    "routing_lambda",
    "routing_epsilon",
    "routing_window_seconds",
    "routing_delay_median_seconds",
    "routing_delay_sigma",
    "routing_learn_delay",
    "routing_delay_fit_seconds",
    "routing_pace",
)
"""What the router's state depends on besides the log: a server keeps them with the database
(``service_settings``), so a command reading it rebuilds the same router."""


def routing_settings(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in ROUTING_SETTINGS}


def with_stored_routing(c: Container, explicit: Collection[str]) -> tuple[Container, bool]:
    """``c`` with the routing settings the last server on its database ran with (where
    kept, and not set ``explicit``ly for this command), its router rebuilt from them; and
    whether they were used."""
    stored = c.store.setting("routing") or {}
    chosen = {k: v for k, v in stored.items() if k in ROUTING_SETTINGS and k not in explicit}
    if not chosen:
        return c, False
    settings = dataclasses.replace(c.settings, **chosen).validated()
    if settings == c.settings:
        return c, True
    router = live_router(settings)
    checkpoints = checkpointing(settings, c.store)
    follower = LogFollower(
        SqlEventLog(c.store.engines), router, c.clock, settings.routing_tail_seconds, checkpoints
    )
    c.follower.stop()
    rebuilt = dataclasses.replace(
        c, settings=settings, router=router, follower=follower, checkpoints=checkpoints,
        reads=router,
    )  # fmt: skip
    return rebuilt, True


def objective_of_settings(settings: Settings) -> Objective:
    """The installation's objective (``CONVROUTE_ROUTING_GOAL``, ``_LAMBDA``, ``_EPSILON``)."""
    return Objective(Goal(settings.routing_goal), settings.routing_lambda, settings.routing_epsilon)


def delay_of_settings(settings: Settings) -> ConversionDelay:
    """The configured conversion delay (``CONVROUTE_ROUTING_DELAY_*``, ``_WINDOW_SECONDS``)."""
    return ConversionDelay(
        settings.routing_delay_median_seconds,
        settings.routing_delay_sigma,
        settings.routing_window_seconds,
    )


def live_router(settings: Settings) -> LiveRouter:
    """The router the settings describe; its state comes from the log (``LogFollower``)."""
    objective = objective_of_settings(settings)
    delay = delay_of_settings(settings)
    policy = make_policy(
        settings.routing_policy, delay, objective,
        learn_delay=settings.routing_learn_delay,
        delay_fit_s=settings.routing_delay_fit_seconds,
    )  # fmt: skip
    watch = anomaly_watch(policy, delay)
    if settings.routing_pace != 1.0:
        policy.set_pace(settings.routing_pace)
        watch.set_pace(settings.routing_pace)
    return LiveRouter(
        policy,
        random.Random(settings.routing_seed),
        watch=watch,
        look_every_ms=watch.check_every_ms,
    )
