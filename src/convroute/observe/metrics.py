"""The service's Prometheus metrics, by ``prometheus_client``.

Every event is counted where it happens, in the process it happens in: HTTP requests by
endpoint (the route's path template, never the raw path) and status; the writer's batches,
their sizes and commit latency; per route (by name, and country where it says so): decisions
and how many explored, submits, refusals, receipts, conversions, failovers; the outbox and the
forwarder. Label values are bounded: routes times countries at most, never a number or a message.

With several worker processes (``convroute serve --workers N``) each process writes its
values to ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them (the library's multiprocess
mode; gauges by their ``multiprocess_mode``); ``serve`` sets the directory before the
workers start. What the database or the event log knows (the outbox, pending forwards,
anomalies) is read when scraped, by whichever process answers (``scrape``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from convroute.domain.commands import ConversionRecorded, DlrRecorded, MessageAccepted

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The instruments, on a registry of their own (one per container: tests build many)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.http = Histogram(
            "convroute_http_request_duration_seconds",
            "HTTP requests by endpoint (path template), method and status, and their latency.",
            ["method", "path", "status"],
            buckets=LATENCY,
            registry=r,
        )
        self.writer_batches = Counter(
            "convroute_writer_batches", "Transactions committed by the group committer.",
            registry=r,
        )  # fmt: skip
        self.writer_commands = Counter(
            "convroute_writer_commands", "Commands carried out by the group committer.",
            registry=r,
        )  # fmt: skip
        self.writer_conflicts = Counter(
            "convroute_writer_conflicts",
            "Transactions run again after another writer committed the same unique key first.",
            registry=r,
        )
        self.writer_failures = Counter(
            "convroute_writer_failures",
            "Batches whose transaction failed (each command then tried alone).",
            registry=r,
        )
        self.batch_size = Histogram(
            "convroute_writer_batch_commands", "Commands per committed batch.",
            buckets=SIZES, registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "convroute_writer_commit_seconds", "Time to carry out and commit one batch.",
            buckets=LATENCY, registry=r,
        )  # fmt: skip
        self.decisions = Counter(
            "convroute_routing_decisions",
            "Routing decisions by route and country; explored: not the policy's favourite.",
            ["route", "country", "explored"],
            registry=r,
        )
        self.conversions = Counter(
            "convroute_route_conversions",
            "Conversion reports recorded, by the route the message went by and its status.",
            ["route", "country", "status"],
            registry=r,
        )
        self.receipts = Counter(
            "convroute_connector_receipts",
            "Delivery receipts recorded, by the route the message went by and their status.",
            ["route", "status"],
            registry=r,
        )
        self.submitted = Counter(
            "convroute_connector_submitted", "Messages routes took.", ["route"], registry=r
        )
        self.failed = Counter(
            "convroute_connector_failed",
            "Submits routes refused or failed to take, by the refusal's code.",
            ["route", "code"],
            registry=r,
        )
        self.failovers = Counter(
            "convroute_connector_failovers",
            "Messages routed again because this route refused them.",
            ["route"],
            registry=r,
        )
        self.resumed = Counter(
            "convroute_outbox_resumed",
            "Outbox entries claimed again (after a crash, a lapsed lease or a back-off).",
            registry=r,
        )
        self.expired = Counter(
            "convroute_outbox_expired",
            "Outbox entries given up: their window closed before any route took them.",
            registry=r,
        )
        self.forwarded = Counter(
            "convroute_forwards_sent",
            "Conversions forwarded to the provider the message went out through.",
            ["route"],
            registry=r,
        )
        self.forward_failures = Counter(
            "convroute_forwards_failures",
            "Tries to forward a conversion upstream that failed (retried, or kept as failed).",
            ["route"],
            registry=r,
        )
        self.rate_limited = Counter(
            "convroute_rate_limited",
            "Requests refused with 429: a client address or a credential id locked after "
            "failed authentications, an account past its rate.",
            ["kind"],
            registry=r,
        )
        self.connector_up = Gauge(
            "convroute_connector_up", "1 when the route's connection is up (an SMPP bind).",
            ["route"], multiprocess_mode="max", registry=r,
        )  # fmt: skip
        self.window_in_use = Gauge(
            "convroute_connector_window_in_use", "Submits in flight on the route's SMPP window.",
            ["route"], multiprocess_mode="livesum", registry=r,
        )  # fmt: skip
        self.throttled = Gauge(
            "convroute_connector_throttled", "1 while the route's SMSC throttles.",
            ["route"], multiprocess_mode="max", registry=r,
        )  # fmt: skip
        self.reconnects = Gauge(
            "convroute_connector_reconnects", "Times the route's SMPP binds were made again.",
            ["route"], multiprocess_mode="livesum", registry=r,
        )  # fmt: skip
        self.verify_guard = Counter(
            "convroute_verify_guard",
            "Verifications the fraud guard refused (nothing sent, nothing charged) or let through "
            "while monitoring, by reason (country_blocked, fraud_suspected, prefix_rate, "
            "country_rate; monitored: country, pumping) and destination country.",
            ["decision", "reason", "country"], registry=r,
        )  # fmt: skip
        self.verifications = Counter(
            "convroute_verifications",
            "Verification outcomes: started, approved, incorrect_code, expired, "
            "max_attempts_reached, canceled, resent.",
            ["outcome", "country"], registry=r,
        )  # fmt: skip
        for kind in ("address", "key", "account"):
            self.rate_limited.labels(kind)  # present at 0

    def count(self, outcomes: Iterable[object]) -> None:
        """Count what a committed batch recorded (the writer calls it after each commit)."""
        for o in outcomes:
            if isinstance(o, MessageAccepted):
                self.decisions.labels(o.route_name, o.country, str(o.explored).lower()).inc()
            elif isinstance(o, ConversionRecorded) and not o.duplicate and o.route:
                self.conversions.labels(o.route, o.country or "", o.status.value).inc()
            elif isinstance(o, DlrRecorded) and o.route:
                self.receipts.labels(o.route, o.status.value).inc()

    def connections(self, states: dict[str, dict[str, Any]]) -> None:
        """Set the connector gauges from each route's connection state (by route name)."""
        for route, s in states.items():
            self.connector_up.labels(route).set(int(s.get("state") in ("bound", "ready")))
            for gauge, key in (
                (self.window_in_use, "window_in_use"),
                (self.throttled, "throttled"),
                (self.reconnects, "reconnects"),
            ):
                if key in s:
                    gauge.labels(route).set(int(s[key]))


Read = Callable[[], Iterable[Metric]]


class _Read(Collector):
    """Families computed when scraped (from the database or the event log)."""

    def __init__(self, read: Read) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        return self._read()


class _Mine(Collector):
    """This process's own instruments (no multiprocess directory)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def gauge(name: str, text: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, text, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def scrape(metrics: Metrics, read: Read) -> bytes:
    """The exposition: every process's instruments (summed in multiprocess mode), then what
    ``read`` computes now."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Mine(metrics.registry))
    registry.register(_Read(read))
    return generate_latest(registry)
