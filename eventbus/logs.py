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
    # Only the level: where the lines go is the application's choice (``logging.basicConfig``, uvicorn's
    # --log-config, ...), as the logging HOWTO asks of libraries; with no handler at all Python's last-resort
    # handler still prints WARNING and above.
    logger.setLevel(name)
    return logger


def configure_logging(
    library: str | None, socketio_level: str | None = None, engineio_level: str | None = None
) -> dict[str, Any]:
    """Set the ``eventbus`` loggers to ``library``; return ``AsyncServer`` options for the other two levels.

    At DEBUG, ``eventbus.traffic`` logs every message in and out with its
    application, sid and user id; python-socketio and python-engineio log their
    own packets at INFO. Handlers are left to the application: configure
    logging (``logging.basicConfig(level="INFO")``) to see lines below WARNING.

    Example:
        >>> configure_logging(None, "ERROR")["logger"].name  # python-socketio's own default level
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
