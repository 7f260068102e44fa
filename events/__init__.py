"""Typed real-time events: declare events and rooms once, as pydantic models."""

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
from events.presence import (
    PresenceJoinEvent,
    PresenceJoinOk,
    PresenceLeaveEvent,
    PresenceList,
    PresenceMember,
    PresenceQuery,
)
from events.registry import ANY_APP, DEFAULT_APP, Registry, app_paths, client_events, rooms, server_events
from events.rooms import Room, RoomKey, UserRoom, room_from_name
from events.targets import check_app, resolve_rooms, room_name, room_names
from events.users import User

__all__ = [
    "ANY_APP",
    "DEFAULT_APP",
    "ClientEvent",
    "Event",
    "EventsError",
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
    "Registry",
    "Room",
    "RoomKey",
    "SessionEndedEvent",
    "SessionExpiredEvent",
    "Target",
    "Targets",
    "User",
    "UserRoom",
    "WrongApplicationError",
    "app_paths",
    "check_app",
    "client_events",
    "resolve_rooms",
    "room_from_name",
    "room_name",
    "room_names",
    "rooms",
    "server_events",
]
