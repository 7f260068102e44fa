"""One schema of ``extra`` fields on every log line of the library, for JSON log handlers.

Every line carries the same five attributes on its ``LogRecord`` (``None`` when
they do not apply): ``sid``, ``user_id``, ``app``, ``event`` and ``code``.
A JSON formatter (python-json-logger, structlog's ``ProcessorFormatter``) then
emits them as fields, and a plain formatter can name them (``%(app)s``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events import User

FIELDS = ("sid", "user_id", "app", "event", "code")


def _fill(record: logging.LogRecord) -> bool:
    for name in FIELDS:
        if not hasattr(record, name):
            setattr(record, name, None)
    return True


def library_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records always have the five fields (``None`` when a line gives none)."""
    logger = logging.getLogger(name)
    if _fill not in logger.filters:
        logger.addFilter(_fill)
    return logger


def log_fields(
    *,
    sid: str | None = None,
    user_id: str | User | None = None,
    app: str | None = None,
    event: str | None = None,
    code: str | None = None,
) -> dict[str, str | None]:
    """The ``extra=`` of a library log line: all five fields, unknown ones ``None`` (``user_id`` also takes a `User`).

    Example:
        >>> log_fields(app="/", sid="abc")
        {'sid': 'abc', 'user_id': None, 'app': '/', 'event': None, 'code': None}
    """
    if user_id is not None and not isinstance(user_id, str):
        user_id = user_id.id
    return {"sid": sid, "user_id": user_id or None, "app": app, "event": event[:64] if event else event, "code": code}
