"""Typed real-time events over Socket.IO: declare once, broadcast, and let codegen type the frontend."""

from eventbus.auth import Authenticator, JWTAuth, bearer_token
from eventbus.bus import EventBus
from eventbus.default import broadcast, get_default, set_default
from eventbus.exceptions import AuthenticationError, ConfigurationError, EventBusError, NoDefaultBusError
from eventbus.sending import Sender
from eventbus.settings import EventBusSettings
from events import ClientEvent, Event, Room, Target, User, UserRoom
from events.acks import ErrorCode

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "ClientEvent",
    "ConfigurationError",
    "ErrorCode",
    "Event",
    "EventBus",
    "EventBusError",
    "EventBusSettings",
    "JWTAuth",
    "NoDefaultBusError",
    "Room",
    "Sender",
    "Target",
    "User",
    "UserRoom",
    "bearer_token",
    "broadcast",
    "get_default",
    "set_default",
]
