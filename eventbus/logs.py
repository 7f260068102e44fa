"""Log levels for the library and for python-socketio/python-engineio, from settings or keyword arguments."""

from __future__ import annotations

import logging
from typing import Any

from eventbus.exceptions import ConfigurationError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(logger: logging.Logger, level: str) -> logging.Logger:
    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigurationError(f"log level must be one of {', '.join(LEVELS)} (got {level!r})")
    logger.setLevel(name)
    # Asking for a level is asking to see those lines: print them when the application configured no logging,
    # as python-socketio's own logger=True does (never twice: only when nothing would handle them).
    if not logger.handlers and not logging.getLogger().handlers:
        logger.addHandler(logging.StreamHandler())
    return logger


def configure_logging(
    library: str | None, socketio_level: str | None = None, engineio_level: str | None = None
) -> dict[str, Any]:
    """Set the ``eventbus`` loggers to ``library``; return ``AsyncServer`` options for the other two levels.

    At DEBUG, ``eventbus.traffic`` logs every message in and out with its
    application, sid and user id; python-socketio and python-engineio log their
    own packets at INFO.

    Example:
        >>> configure_logging(None, "INFO")["logger"].name
        'socketio.server'
    """
    if library is not None:
        _level(logging.getLogger("eventbus"), library)
    options: dict[str, Any] = {}
    if socketio_level is not None:
        options["logger"] = _level(logging.getLogger("socketio.server"), socketio_level)
    if engineio_level is not None:
        options["engineio_logger"] = _level(logging.getLogger("engineio.server"), engineio_level)
    return options
