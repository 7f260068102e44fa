"""Errors raised by the runtime. Their root, `EventBusError`, is also the root of the schema errors of ``events``."""

from __future__ import annotations

from events.exceptions import EventBusError

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "EventBusError",
    "EventError",
    "NoDefaultBusError",
    "PublishError",
    "RedisUnavailableError",
    "SignatureError",
]


class ConfigurationError(EventBusError, ValueError):
    """The bus, its auth or its settings were given values that cannot work together."""


class AuthenticationError(EventBusError):
    """A credential was presented and is not valid: the connection is refused even when anonymous is allowed."""


class NoDefaultBusError(EventBusError, RuntimeError):
    """Module-level ``broadcast()`` was called before any ``EventBus`` or ``Emitter`` existed."""


class EventError(EventBusError):
    """Raise in a client-event handler to refuse with your own code: the client gets ``{"ok": false, "error": ...}``.

    Example:
        >>> raise EventError("chat_closed", "this chat no longer accepts messages")  # in a handler
        Traceback (most recent call last):
        ...
        eventbus.exceptions.EventError: chat_closed: this chat no longer accepts messages
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RedisUnavailableError(EventBusError, ConnectionError):
    """Redis could not be reached when the bus or emitter started; the message names the URL, password hidden."""


class PublishError(EventBusError, ConnectionError):
    """A message could not be published to Redis: nobody received it, so the caller may retry or report it."""


class SignatureError(EventBusError, ValueError):
    """A message read from the Redis channel is unsigned, forged, stale or replayed (it is dropped, not acted on).

    ``reason`` is one of ``unsigned``, ``forged``, ``stale``, ``replayed``: the label it is counted under.
    """

    def __init__(self, message: str, *, reason: str = "forged") -> None:
        super().__init__(message)
        self.reason = reason
