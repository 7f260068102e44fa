"""Errors raised while declaring events and rooms or resolving their targets."""

from __future__ import annotations


class EventsError(Exception):
    """Root of every error raised by the ``events`` package."""


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
