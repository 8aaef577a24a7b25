"""Logging, configured once per process.

Events are snake_case facts with context: ``log.info("charge_state_changed", old="bulk",
new="absorption", battery_v=56.2)``. On a terminal they render for people, with a time stamp;
under a supervisor (multilog ``t``, journald) they render as one ``key=value`` line without
a time stamp, since the supervisor adds its own. python-can's and dbus-fast's stdlib logs go
through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

Format = Literal["auto", "console", "plain", "json"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _renderer(fmt: Format, stream: TextIO) -> Any:
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "plain"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False)
    return structlog.processors.LogfmtRenderer(
        key_order=["level", "process", "event"], drop_missing=True
    )


def configure_logging(
    process: str,
    level: str = "info",
    fmt: Format = "auto",
    stream: TextIO | None = None,
) -> structlog.stdlib.BoundLogger:
    """Configure structlog and the stdlib root logger; return the process's bound logger."""
    stream = stream if stream is not None else sys.stderr
    numeric_level = _LEVELS[level]
    console = fmt == "console" or (fmt == "auto" and stream.isatty())

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name if numeric_level <= logging.DEBUG else _drop_nothing,
    ]
    if console:
        shared.append(structlog.processors.TimeStamper(fmt="%H:%M:%S.%f", utc=False))

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _bind_process(process),
            structlog.processors.format_exc_info,
            _renderer(fmt, stream),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # Library chatter below WARNING is noise for a user unless they asked for debug.
    for noisy in ("can", "dbus_fast", "asyncio"):
        logging.getLogger(noisy).setLevel(
            numeric_level if numeric_level <= logging.DEBUG else logging.WARNING
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=False,
    )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(process)
    return logger


def _drop_nothing(_logger: Any, _name: str, event: Any) -> Any:
    return event


def _bind_process(process: str) -> Any:
    def add_process(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("process", process)
        return event

    return add_process


def get_logger(name: str | None = None) -> Any:
    """A structlog logger for a module; lazy, so import order does not matter."""
    return structlog.get_logger(name)
