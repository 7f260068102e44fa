"""`EventBus`: the typed API over a ``socketio.AsyncServer``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import socketio

from eventbus.asgi import Lifespan, combined_app
from eventbus.auth import Authenticator, JWTAuth
from eventbus.default import offer_default
from eventbus.discovery import import_package, rooms_defined_in
from eventbus.exceptions import AuthenticationError, ConfigurationError
from eventbus.handlers import ClientEventHandler, E, Handler
from eventbus.joins import RoomHandlers
from eventbus.limits import TokenBucket
from eventbus.managers import client_manager, disconnect_room, presence_store_for, start_manager, stop_manager
from eventbus.presence import Presence, query_presence
from eventbus.redis_manager import RedisManager
from eventbus.sending import Sender
from eventbus.settings import EventBusSettings
from events import (
    ClientEvent,
    Event,
    PresenceMember,
    PresenceQuery,
    Room,
    SessionExpiredEvent,
    Target,
    User,
    UserRoom,
    room_name,
)
from events.acks import ErrorCode, error_ack

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType, TracebackType

    from eventbus.presence_store import PresenceStore

logger = logging.getLogger(__name__)

ConnectGuard: TypeAlias = Callable[[User | None, Mapping[str, Any]], bool | Awaitable[bool]]
"""``authorize=``: after authentication, whether this user may connect at all (refusal: ``forbidden``)."""


def authenticator_from(settings: EventBusSettings) -> JWTAuth | None:
    """A `JWTAuth` built from ``EVENTBUS_JWT_*`` settings, or ``None`` when no key is configured."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if secret is None and settings.jwt_public_key is None:
        return None
    return JWTAuth(
        secret,
        public_key=settings.jwt_public_key,
        algorithms=settings.jwt_algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        user_id_claim=settings.jwt_user_id_claim,
        leeway=settings.jwt_leeway,
        cookie=settings.jwt_cookie,
    )


class EventBus(Sender):
    """Authenticated connections, typed rooms and typed broadcasts on one Socket.IO server.

    With no ``redis_url`` the bus is in memory (one process); with one, every
    process sharing that Redis (and ``redis_channel``) delivers to its own
    sockets, and ``redis_signing_key`` makes them sign and check every Redis
    message. Use ``asgi_app()`` (or ``async with bus``) so Redis is checked at
    startup and the listener stopped at shutdown. Options not given
    here come from ``EVENTBUS_*`` environment variables. Extra keyword arguments
    go to ``socketio.AsyncServer``; ``bus.sio`` is that server.

    Example:
        >>> bus = EventBus(auth=JWTAuth(secret="change-me"), rooms=[ChatRoom])  # doctest: +SKIP
        >>> app = bus.asgi_app(other_asgi_app=fastapi_app)  # doctest: +SKIP
        >>> await bus.broadcast(MessageEvent(chat_id="42", text="hi"))  # doctest: +SKIP
    """

    def __init__(
        self,
        auth: Authenticator | None = None,
        *,
        rooms: Iterable[type[Room]] = (),
        authorize: ConnectGuard | None = None,
        redis_url: str | None = None,
        redis_channel: str | None = None,
        redis_signing_key: str | None = None,
        allow_anonymous: bool | None = None,
        cors_allowed_origins: str | list[str] | None = None,
        settings: EventBusSettings | None = None,
        presence_store: PresenceStore | None = None,
        **socketio_options: Any,
    ) -> None:
        self.settings = settings or EventBusSettings()
        self.auth: Authenticator | None = auth or authenticator_from(self.settings)
        self.allow_anonymous = self.settings.allow_anonymous if allow_anonymous is None else allow_anonymous
        if self.auth is None and not self.allow_anonymous:
            raise ConfigurationError(
                "EventBus needs auth=JWTAuth(...) (or EVENTBUS_JWT_SECRET / EVENTBUS_JWT_PUBLIC_KEY), "
                "or allow_anonymous=True for a bus without authentication"
            )
        self.cors_allowed_origins = (
            cors_allowed_origins if cors_allowed_origins is not None else self.settings.cors_origins
        )
        secret_url, secret_key = self.settings.redis_url, self.settings.redis_signing_key
        self.redis_url = redis_url or (secret_url.get_secret_value() if secret_url else None)
        self.authorize = authorize
        self.max_rooms = self.settings.max_rooms
        socketio_options.setdefault("max_http_buffer_size", self.settings.max_payload_bytes)
        manager = client_manager(
            self.redis_url,
            channel=redis_channel or self.settings.redis_channel,
            signing_key=redis_signing_key or (secret_key.get_secret_value() if secret_key else None),
            fast_emit=self.settings.fast_emit,
        )
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=self.cors_allowed_origins,
            **socketio_options,
        )
        self.sio.on("connect", self._on_connect, namespace=self.namespace)
        self.sio.on("disconnect", self._on_disconnect, namespace=self.namespace)
        self.sio.on("*", self._on_unknown, namespace=self.namespace)
        self._rooms: dict[str, RoomHandlers] = {}
        self._handlers: dict[str, ClientEventHandler[Any]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        # A timer per connection until its token expires, then the task that disconnects it: a timer costs a
        # fraction of a sleeping task's memory, which the benchmark's bytes per idle connection showed.
        self._expiries: dict[str, asyncio.TimerHandle | asyncio.Task[None]] = {}
        self._presence = Presence(self, presence_store or presence_store_for(manager, self.settings))
        if isinstance(manager, RedisManager):
            manager.room_listener = self._presence.moved
        self.on(PresenceQuery)(query_presence)
        for room in rooms:
            self.add_room(room)
        offer_default(self)

    def __repr__(self) -> str:
        return f"EventBus(rooms={sorted(self._rooms)}, redis={self.redis_url is not None})"

    @property
    def rooms(self) -> list[type[Room]]:
        """The room classes clients can join and leave on this bus, sorted by prefix."""
        return [self._rooms[prefix].room for prefix in sorted(self._rooms)]

    def add_room(self, room: type[Room]) -> None:
        """Register ``join_<prefix>`` and ``leave_<prefix>`` handlers for a room class."""
        if not (isinstance(room, type) and issubclass(room, Room)) or room is Room:
            raise ConfigurationError(f"rooms must be Room subclasses (got {room!r})")
        known = self._rooms.get(room.prefix)
        if known is not None and known.room is not room:
            raise ConfigurationError(f"{room.__name__} and {known.room.__name__} both use room prefix {room.prefix!r}")
        handlers = RoomHandlers(self, room)
        self._rooms[room.prefix] = handlers
        self.sio.on(handlers.join_event, handlers.join, namespace=self.namespace)
        self.sio.on(handlers.leave_event, handlers.leave, namespace=self.namespace)

    def on(self, event: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Register the handler of a client event; its return annotation is the ack type.

        The payload is validated into ``event`` first; the handler's return value
        is sent as ``{"ok": true, "data": ...}`` (``{"ok": true}`` for ``None``).
        Raise `EventError` to refuse with your own code; any other exception is
        logged and acked as ``internal``.

        Example:
            >>> @bus.on(SendMessage)  # doctest: +SKIP
            ... async def send_message(ctx: Context, msg: SendMessage) -> MessageAck:
            ...     await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, text=msg.text))
            ...     return MessageAck(accepted=True)
        """
        if not (isinstance(event, type) and issubclass(event, ClientEvent)):
            raise ConfigurationError(f"bus.on() takes a ClientEvent subclass (got {event!r})")
        name = event.event_name
        if name.startswith(("join_", "leave_")) and name.split("_", 1)[1] in self._rooms:
            raise ConfigurationError(f"{event.__name__}'s name {name!r} is the join/leave event of a room")

        def register(handler: Handler[E]) -> Handler[E]:
            self._handlers[name] = ClientEventHandler(self, event, handler)
            self.sio.on(name, self._handlers[name].handle, namespace=self.namespace)
            return handler

        return register

    def autodiscover(self, package: str) -> list[ModuleType]:
        """Import every module of ``package`` so its events, rooms and handlers register.

        Room classes defined in those modules become joinable on this bus.

        Example:
            >>> bus.autodiscover("app.socketio_events")  # doctest: +SKIP
        """
        modules = import_package(package)
        for room in rooms_defined_in(modules):
            if room.prefix not in self._rooms and room is not UserRoom:
                self.add_room(room)
        return modules

    def asgi_app(self, other_asgi_app: Any = None, *, socketio_path: str = "socket.io") -> Any:
        """The ASGI application serving Socket.IO at ``/socket.io/`` and ``other_asgi_app`` for the rest.

        When CORS origins are configured, the same origins are applied to the
        other application (through Starlette's ``CORSMiddleware``).

        Example:
            >>> app = bus.asgi_app(other_asgi_app=FastAPI())  # doctest: +SKIP
        """
        app = combined_app(self.sio, other_asgi_app, origins=self.cors_allowed_origins, socketio_path=socketio_path)
        return Lifespan(app, self.start, self.stop)

    async def start(self) -> None:
        """Connect to Redis and listen now; ``asgi_app()`` calls it at startup, so a bad URL stops the server.

        Raises `RedisUnavailableError` naming the URL (password hidden). Without
        Redis there is nothing to connect to.
        """
        await start_manager(self.sio)
        if any(room.presence for room in self.rooms):
            # Only then: a bus without presence rooms needs no Redis keys (its ACL user may have none).
            await self._presence.start()

    async def stop(self) -> None:
        """Stop listening to Redis and close its connections; ``asgi_app()`` calls it at shutdown."""
        await self._presence.stop()
        await stop_manager(self.sio)

    async def __aenter__(self) -> EventBus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def get_user(self, sid: str) -> User | None:
        """The user a connection authenticated as, ``None`` when anonymous or unknown."""
        try:
            session = await self.sio.get_session(sid, namespace=self.namespace)
        except KeyError:
            return None
        user: User | None = session.get("user")
        return user

    def joined_rooms(self, sid: str) -> list[str]:
        """Rooms this process has ``sid`` in, apart from its own sid room and its ``user:`` room."""
        rooms: list[str] = self.sio.rooms(sid, namespace=self.namespace)
        return [room for room in rooms if room != sid and not room.startswith("user:")]

    def rate_limited(self, sid: str, event: str) -> dict[str, object] | None:
        """Spend one token of ``sid``'s bucket; the ``rate_limited`` ack when it is empty."""
        bucket = self._buckets.get(sid)
        if bucket is None:
            bucket = self._buckets[sid] = TokenBucket(self.settings.rate_limit, self.settings.rate_burst)
        if bucket.take():
            return None
        logger.info("rate limited: sid=%s event=%s", sid, event)
        return error_ack(ErrorCode.RATE_LIMITED, f"more than {self.settings.rate_limit:g} events per second")

    async def emit_to_sid(self, sid: str, event: Event | str, data: Any = None) -> None:
        """Send to one connection."""
        await self._send(event, data, [sid], None)

    async def join_room(self, sid: str, room: Target) -> None:
        """Put a connection in a room, without asking ``can_join`` (the server decides); records presence."""
        await self.sio.enter_room(sid, room_name(room), namespace=self.namespace)
        await self._presence.joined(sid, room)

    async def leave_room(self, sid: str, room: Target) -> None:
        """Take a connection out of a room."""
        await self.sio.leave_room(sid, room_name(room), namespace=self.namespace)
        await self._presence.left(sid, room)

    async def presence(self, room: Target) -> list[PresenceMember]:
        """Who is in a ``presence=True`` room, once per user, sorted by user id (all processes with Redis).

        Example:
            >>> [m.user_id for m in await bus.presence(ChatRoom(chat_id="42"))]  # doctest: +SKIP
            ['alice', 'bob']
        """
        return await self._presence.members(room)

    async def disconnect(self, sid: str) -> None:
        """Disconnect a connection, on this process or, through Redis, on the one that holds it."""
        await self.sio.disconnect(sid, namespace=self.namespace)

    async def disconnect_user(self, user_id: str | int) -> None:
        """Disconnect every connection of a user, on every process (log out everywhere)."""
        await disconnect_room(self.sio, UserRoom(user_id=str(user_id)).name, self.namespace)

    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        await self.sio.emit(name, data, to=rooms, skip_sid=skip_sid, namespace=self.namespace)

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        user = await self._authenticate(sid, environ, auth)
        await self.sio.save_session(sid, {"user": user, "connected_at": time.time()}, namespace=self.namespace)
        if user is not None:
            await self.sio.enter_room(sid, UserRoom(user_id=user.id).name, namespace=self.namespace)
            self._schedule_expiry(sid, user)
        logger.debug("connected sid=%s user=%s", sid, user and user.id)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        await self._presence.disconnected(sid)
        self._buckets.pop(sid, None)
        expiry = self._expiries.pop(sid, None)
        if expiry is not None and expiry is not asyncio.current_task():
            expiry.cancel()
        logger.debug("disconnected sid=%s reason=%s", sid, reason)

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, object]:
        refusal = self.rate_limited(sid, event)
        if refusal is not None:
            return refusal
        logger.info("unknown event %r from sid=%s", event[:64], sid)
        return error_ack(ErrorCode.UNKNOWN_EVENT, f"no handler for event {event[:64]!r}")

    def _schedule_expiry(self, sid: str, user: User) -> None:
        exp = user.claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        delay = max(0.0, exp + float(getattr(self.auth, "leeway", 0)) - time.time())
        self._expiries[sid] = asyncio.get_running_loop().call_later(delay, self._start_expiry, sid)

    def _start_expiry(self, sid: str) -> None:
        self._expiries[sid] = asyncio.create_task(self._expire(sid), name=f"eventbus-expiry-{sid}")

    async def _expire(self, sid: str) -> None:
        logger.info("token expired: disconnecting sid=%s", sid)
        await self.emit_to_sid(sid, SessionExpiredEvent(reason="token_expired"))
        await self.sio.disconnect(sid, namespace=self.namespace)

    async def _authenticate(self, sid: str, environ: Mapping[str, Any], auth: Any) -> User | None:
        user: User | None = None
        if self.auth is not None:
            try:
                user = await self.auth(auth, environ)
            except AuthenticationError as exc:
                logger.info("connection refused sid=%s: %s", sid, exc)
                raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
            except Exception as exc:
                logger.exception("authenticator failed for sid=%s", sid)
                raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
        if user is None and not self.allow_anonymous:
            logger.info("connection refused sid=%s: no credential", sid)
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        if self.authorize is not None:
            allowed = self.authorize(user, environ)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                logger.info("connection refused sid=%s user=%s: not authorized", sid, user and user.id)
                raise socketio.exceptions.ConnectionRefusedError("forbidden")
        return user
