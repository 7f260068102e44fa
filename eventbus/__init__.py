"""Typed real-time events over Socket.IO: declare once, broadcast, and let codegen type the frontend.

The examples below run as tests. They assume a small chat application's declarations: ``ChatRoom``
(``chat:{chat_id}``), ``DocRoom`` (a presence room), ``MessageEvent``, ``NoticeEvent``, ``SendMessage`` (acked with
``MessageAck``), and ``AdminAlertEvent`` and ``OpsRoom`` of the application ``/admin``; a
``bus = EventBus(auth=JWTAuth(secret=SECRET), rooms=[ChatRoom, DocRoom])``; and ``token("alice")``, a JWT that bus
accepts (``tests/doctest_namespace.py``). An example is not inside a coroutine, so ``asyncio.run(...)`` stands where
application code writes ``await``.
"""

from eventbus._version import __version__ as __version__
from eventbus.applications import Application, ConnectGuard
from eventbus.auth import Authenticator, JWTAuth, bearer_token
from eventbus.bus import EventBus
from eventbus.default import broadcast, get_default, set_default
from eventbus.emitter import Emitter, SyncEmitter
from eventbus.exceptions import (
    AuthenticationError,
    ConfigurationError,
    EventBusError,
    EventError,
    NoDefaultBusError,
    PublishError,
    RedisUnavailableError,
)
from eventbus.inbound.connections import ConnectionInfo
from eventbus.inbound.handlers import Context
from eventbus.presence.store import MemoryPresenceStore, PresenceStore
from eventbus.sending import Sender, Sent
from eventbus.settings import AdminUI, AppSettings, EventBusSettings
from events import (
    ClientEvent,
    Event,
    HistoryJoinOk,
    HistoryList,
    HistoryQuery,
    PresenceJoinEvent,
    PresenceJoinOk,
    PresenceLeaveEvent,
    PresenceList,
    PresenceMember,
    PresenceQuery,
    Publication,
    Room,
    RoomKey,
    SessionEndedEvent,
    SessionExpiredEvent,
    StreamPosition,
    Target,
    User,
    UserRoom,
    WrongApplicationError,
)
from events.acks import ErrorCode

__all__ = [
    "AdminUI",
    "AppSettings",
    "Application",
    "AuthenticationError",
    "Authenticator",
    "ClientEvent",
    "ConfigurationError",
    "ConnectGuard",
    "ConnectionInfo",
    "Context",
    "Emitter",
    "ErrorCode",
    "Event",
    "EventBus",
    "EventBusError",
    "EventBusSettings",
    "EventError",
    "HistoryJoinOk",
    "HistoryList",
    "HistoryQuery",
    "JWTAuth",
    "MemoryPresenceStore",
    "NoDefaultBusError",
    "PresenceJoinEvent",
    "PresenceJoinOk",
    "PresenceLeaveEvent",
    "PresenceList",
    "PresenceMember",
    "PresenceQuery",
    "PresenceStore",
    "Publication",
    "PublishError",
    "RedisUnavailableError",
    "Room",
    "RoomKey",
    "Sender",
    "Sent",
    "SessionEndedEvent",
    "SessionExpiredEvent",
    "StreamPosition",
    "SyncEmitter",
    "Target",
    "User",
    "UserRoom",
    "WrongApplicationError",
    "bearer_token",
    "broadcast",
    "get_default",
    "set_default",
]
