"""Logs: one JSON object per line on stderr, by ``structlog``.

Events (``observe/events.py``) carry their facts as fields; lines from the standard library
(uvicorn, the connectors' loggers) go through the same renderer, so every line is JSON with
``timestamp``, ``level``, ``logger`` and ``event``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter() -> structlog.stdlib.ProcessorFormatter:
    """The JSON formatter for standard-library handlers (uvicorn's too)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def route_events() -> None:
    """Send structlog's events through the standard library's logging (idempotent): where
    the server configured it they are rendered as JSON; in tests, captured."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )


def configure(level: str) -> dict[str, object]:
    """Configure structlog and the root logger; returns the matching uvicorn ``log_config``."""
    route_events()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "convroute": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
