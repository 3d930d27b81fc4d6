"""The events an operator alerts on, as structured log entries (``structlog``): each is one
JSON object with an ``event`` name and its facts as fields, never interpolated into a
message. ``logs.configure`` renders them (and every other log line) as JSON on stderr.

- ``anomaly_raised`` / ``anomaly_cleared``: kind, route, destination, traffic, evidence;
- ``share_moved``: a route's share of a destination's traffic moved past the threshold;
- ``connector_bound`` / ``connector_dropped`` / ``connector_throttled``: an SMPP bind's life;
- ``writer_batch_failed``: a write transaction failed (its commands are then tried alone);
- ``request``: one per HTTP request, when the access log is on.
"""

from __future__ import annotations

from typing import Any

import structlog

log = structlog.get_logger("convroute.events")


def emit(event: str, level: str = "info", **fields: Any) -> None:
    """Log one event with its fields."""
    getattr(log, level)(event, **{k: v for k, v in fields.items() if v is not None})


def writer_failed(commands: int, exc: BaseException) -> None:
    emit("writer_batch_failed", "warning", commands=commands, error=f"{type(exc).__name__}: {exc}")


def anomaly(raised: bool, **fields: Any) -> None:
    emit(
        "anomaly_raised" if raised else "anomaly_cleared", "warning" if raised else "info", **fields
    )


def share_moved(**fields: Any) -> None:
    emit("share_moved", **fields)


def connector(what: str, level: str = "info", **fields: Any) -> None:
    """``what``: bound, dropped or throttled."""
    emit(f"connector_{what}", level, **fields)
