"""Typed real-time events: declare events and rooms once, as pydantic models.

This is what schema authors write. The runtime (`eventbus`) and `codegen` also
read the plumbing modules `events.registry` (the registries of declared
classes) and `events.targets` (targets to room names); applications need neither.
"""

from events.base import ClientEvent, Event, Target, Targets
from events.builtin import SessionEndedEvent, SessionExpiredEvent
from events.exceptions import (
    EventsError,
    InvalidNameError,
    InvalidTargetError,
    MissingTargetsError,
    NameConflictError,
    WrongApplicationError,
)
from events.history import HistoryJoinOk, HistoryList, HistoryQuery, Publication, StreamPosition
from events.presence import (
    PresenceJoinEvent,
    PresenceJoinOk,
    PresenceLeaveEvent,
    PresenceList,
    PresenceMember,
    PresenceQuery,
)
from events.registry import ANY_APP, DEFAULT_APP
from events.rooms import Room, RoomKey, UserRoom
from events.users import User

__all__ = [
    "ANY_APP",
    "DEFAULT_APP",
    "ClientEvent",
    "Event",
    "EventsError",
    "HistoryJoinOk",
    "HistoryList",
    "HistoryQuery",
    "InvalidNameError",
    "InvalidTargetError",
    "MissingTargetsError",
    "NameConflictError",
    "PresenceJoinEvent",
    "PresenceJoinOk",
    "PresenceLeaveEvent",
    "PresenceList",
    "PresenceMember",
    "PresenceQuery",
    "Publication",
    "Room",
    "RoomKey",
    "SessionEndedEvent",
    "SessionExpiredEvent",
    "StreamPosition",
    "Target",
    "Targets",
    "User",
    "UserRoom",
    "WrongApplicationError",
]
