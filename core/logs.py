"""structlog setup shared by every component: JSON lines when not on a TTY, pretty on a TTY.

Callers bind the resource identity (kind, namespace, name) and seq/trace ids; secrets never reach
a log line because tokens are never bound (admission logs principals, not credentials).
"""
from __future__ import annotations

import logging
import sys

import structlog

from core.tracing import merge_log_fields


def configure(component: str, level: str = "INFO", log_format: str = "") -> None:
    """`level` and `log_format` are BOSUN_LOG_LEVEL and BOSUN_LOG_FORMAT (`core.settings`)."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    pretty = sys.stderr.isatty() and log_format != "json"
    renderer: structlog.typing.Processor = (structlog.dev.ConsoleRenderer() if pretty
                                            else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            merge_log_fields,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(component=component)
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=sys.stderr)
