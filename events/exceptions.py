"""Errors raised while declaring events and rooms or resolving their targets, and the root of every library error."""

from __future__ import annotations


class EventBusError(Exception):
    """Root of every error the library raises: ``except EventBusError`` catches the schema errors below and the
    runtime's (``eventbus.exceptions``) alike.

    Example:
        >>> from eventbus import ConfigurationError, WrongApplicationError
        >>> issubclass(WrongApplicationError, EventBusError), issubclass(ConfigurationError, EventBusError)
        (True, True)
    """


class EventsError(EventBusError):
    """Root of the errors raised by the ``events`` package: declaring events and rooms, resolving targets."""


class NameConflictError(EventsError, ValueError):
    """A wire name or room prefix is already taken, or is reserved by Socket.IO."""


class InvalidNameError(EventsError, ValueError):
    """A wire name, room prefix or room name has a form that cannot be used on the wire."""


class MissingTargetsError(EventsError, TypeError):
    """``broadcast()`` was called for an event that does not define ``broadcast_to()``."""


class InvalidTargetError(EventsError, TypeError):
    """``broadcast_to()`` returned something that is neither a ``Room`` nor a room-name ``str``."""


class WrongApplicationError(EventsError, ValueError):
    """An event or room bound to one application was sent, joined or registered through another."""
