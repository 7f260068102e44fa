"""`Application`: one Socket.IO namespace with its own auth policy, rooms, client-event handlers and connections.

Everything per connection (session, rooms, rate-limit bucket, token-expiry task,
connection table) lives in the application that accepted it, and python-socketio
keeps rooms per namespace, so nothing one application does can reach another's
clients.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import socketio

from eventbus.exceptions import AuthenticationError, ConfigurationError
from eventbus.history.queries import query_history
from eventbus.history.service import Recovery
from eventbus.inbound.connections import ConnectionInfo, ConnectionTable
from eventbus.inbound.expiry import TokenExpiry
from eventbus.inbound.handlers import ClientEventHandler, E, Handler
from eventbus.inbound.host import Host
from eventbus.inbound.joins import RoomHandlers
from eventbus.inbound.limits import TokenBucket
from eventbus.observability import tracing
from eventbus.observability.logfields import library_logger, log_fields
from eventbus.observability.metrics import AppState
from eventbus.observability.recorder import NO_RECORDER, UNKNOWN_EVENT, Recorder, disconnect_reason
from eventbus.presence.service import Presence, query_presence
from eventbus.transport.managers import disconnect_room, room_count, subscribe_rooms
from eventbus.transport.publishing import emit_logged
from eventbus.transport.room_streams import room_history_for
from eventbus.transport.server import recoverable
from events import (
    ClientEvent,
    Event,
    PresenceMember,
    PresenceQuery,
    Room,
    SessionEndedEvent,
    SessionExpiredEvent,
    Target,
    User,
    UserRoom,
    registry,
)
from events.acks import ErrorCode, error_ack
from events.history import HistoryJoinOk, HistoryList, HistoryQuery, StreamPosition
from events.targets import check_app, room_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eventbus.auth import Authenticator
    from eventbus.history.recovery import RecoveryLog
    from eventbus.history.rooms import RoomHistory
    from eventbus.presence.store import PresenceStore
    from eventbus.settings import EventBusSettings

logger = library_logger(__name__)
traffic = library_logger("eventbus.traffic")
"""Every message in and out, with sids and user ids, at DEBUG (``EVENTBUS_LOG_LEVEL=DEBUG``)."""

ConnectGuard: TypeAlias = Callable[[User | None, Mapping[str, Any]], bool | Awaitable[bool]]
"""``authorize=``: after authentication, whether this user may connect at all (refusal: ``forbidden``)."""


class Application(Host):
    """One application (Socket.IO namespace) of an `EventBus`: the same API as the bus, scoped to its clients.

    Create it with ``bus.app(path, ...)`` (or ``EVENTBUS_APPS``); the bus itself
    is the application ``/``. Its rooms, handlers, connections and auth policy
    are its own: a broadcast here never reaches a client of another application.

    Example:
        >>> admin = bus.app("/admin", auth=JWTAuth(secret=ADMIN_SECRET), rooms=[OpsRoom])
        >>> with capture_broadcasts() as sent:  # records what is sent: eventbus.testing
        ...     asyncio.run(admin.broadcast(AdminAlertEvent(text="disk full")))
        >>> [(s.app, s.name, s.rooms) for s in sent]
        [('/admin', 'admin_alert', ['ops'])]
        >>> admin.connection_count()
        0
    """

    def __init__(
        self,
        sio: socketio.AsyncServer,
        path: str,
        *,
        settings: EventBusSettings,
        presence_store: PresenceStore,
        auth: Authenticator | None = None,
        allow_anonymous: bool = False,
        authorize: ConnectGuard | None = None,
        rooms: Iterable[type[Room]] = (),
        recovery_log: RecoveryLog | None = None,
        recorder: Recorder = NO_RECORDER,
    ) -> None:
        if auth is None and not allow_anonymous:
            raise ConfigurationError(f"application {path!r} needs auth=... or allow_anonymous=True")
        self.sio = sio
        self.namespace = path
        self.settings = settings
        self.auth = auth
        self.allow_anonymous = allow_anonymous
        self.authorize = authorize
        self.max_rooms = settings.max_rooms
        self.recorder = recorder
        self._ending: dict[str, str] = {}  # sid -> the disconnect reason label the bus knows better than "server"
        self._rooms: dict[str, RoomHandlers] = {}
        self._keeps_history = False
        self._history_outcomes: Counter[str] = Counter()
        self._handlers: dict[str, ClientEventHandler[Any]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._expiry = TokenExpiry(self._expire, leeway=float(getattr(auth, "leeway", 0)))
        self._table = ConnectionTable()
        self._connecting: dict[str, int] = {}  # per user id: connects past the limit check, not yet in the table
        self._presence = Presence(self, presence_store)
        self._recovery = Recovery(sio, path, recovery_log) if recovery_log is not None else None
        self._history: RoomHistory = room_history_for(sio.manager, path)
        sio.on("connect", self._counted_connect, namespace=path)
        sio.on("disconnect", self._on_disconnect, namespace=path)
        sio.on("*", self._on_unknown, namespace=path)
        self.on(PresenceQuery)(query_presence)
        self.on(HistoryQuery)(query_history)
        for room in rooms:
            self.add_room(room)

    def __repr__(self) -> str:
        return f"Application({self.namespace!r}, rooms={sorted(self._rooms)}, anonymous={self.allow_anonymous})"

    @property
    def rooms(self) -> list[type[Room]]:
        """The room classes clients can join and leave in this application, sorted by prefix."""
        return [self._rooms[prefix].room for prefix in sorted(self._rooms)]

    def add_room(self, room: type[Room]) -> None:
        """Register ``join_<prefix>`` and ``leave_<prefix>`` handlers for a room class of this application."""
        if not (isinstance(room, type) and issubclass(room, Room)) or room is Room:
            raise ConfigurationError(f"rooms must be Room subclasses (got {room!r})")
        check_app(room, self.namespace)
        known = self._rooms.get(room.prefix)
        if known is not None and known.room is not room:
            raise ConfigurationError(f"{room.__name__} and {known.room.__name__} both use room prefix {room.prefix!r}")
        if room.history and "since" in room.model_fields:
            raise ConfigurationError(f"{room.__name__} keeps history: 'since' is its join's position, not a room key")
        handlers = RoomHandlers(self, room)
        self._rooms[room.prefix] = handlers
        self._keeps_history = self._keeps_history or bool(room.history)
        self.sio.on(handlers.join_event, handlers.join, namespace=self.namespace)
        self.sio.on(handlers.leave_event, handlers.leave, namespace=self.namespace)

    def on(self, event: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Register the handler of a client event; it returns the ack's data, of the event's ``ack=`` type.

        The payload is validated into ``event`` first; the handler's return value
        is sent as ``{"ok": true, "data": ...}`` (``{"ok": true}`` for ``None``).
        Raise `EventError` to refuse with your own code; any other exception is
        logged and acked as ``internal``.

        Example:
            >>> @bus.on(SendMessage)  # class SendMessage(ClientEvent, ack=MessageAck)
            ... async def send_message(ctx: Context, msg: SendMessage) -> MessageAck:
            ...     await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, text=msg.text))
            ...     return MessageAck(id=17)  # the client gets {"ok": true, "data": {"id": 17}}
        """
        if not (isinstance(event, type) and issubclass(event, ClientEvent)):
            raise ConfigurationError(f"bus.on() takes a ClientEvent subclass (got {event!r})")
        check_app(event, self.namespace)
        name = event.event_name
        if name.startswith(("join_", "leave_")) and name.split("_", 1)[1] in self._rooms:
            raise ConfigurationError(f"{event.__name__}'s name {name!r} is the join/leave event of a room")

        def register(handler: Handler[E]) -> Handler[E]:
            self._handlers[name] = ClientEventHandler(self, event, handler)
            self.sio.on(name, self._handlers[name].handle, namespace=self.namespace)
            return handler

        return register

    def accepts_binary(self, event: str) -> bool:
        """Whether the client event ``event`` declares a ``bytes`` field (may come with binary attachments).

        Example:
            >>> @bus.on(SendMessage)  # chat_id and text: no bytes field
            ... async def send_message(ctx: Context, msg: SendMessage) -> MessageAck:
            ...     return MessageAck(id=1)
            >>> bus.apps["/"].accepts_binary("send_message"), bus.apps["/"].accepts_binary("no_such_event")
            (False, False)
        """
        handler = self._handlers.get(event)
        return handler is not None and handler.binary

    async def get_user(self, sid: str) -> User | None:
        """The user a connection authenticated as, ``None`` when anonymous or unknown."""
        return self._table.user(sid)

    def joined_rooms(self, sid: str) -> list[str]:
        """Rooms this process has ``sid`` in, apart from its own sid room and its ``user:`` room."""
        rooms: list[str] = self.sio.rooms(sid, namespace=self.namespace)
        return [room for room in rooms if room != sid and not room.startswith("user:")]

    def rate_limited(self, sid: str, event: str) -> dict[str, object] | None:
        """Spend one token of ``sid``'s bucket; the ``rate_limited`` ack when it is empty.

        Every client message (join, leave, client event, unknown event) passes
        here first, so this is also where incoming traffic is logged.
        """
        if traffic.isEnabledFor(logging.DEBUG):
            user = self._table.user(sid)
            traffic.debug(
                "in  app=%s sid=%s user=%s event=%s",
                self.namespace,
                sid,
                user and user.id,
                event[:64],
                extra=log_fields(sid=sid, user_id=user and user.id, app=self.namespace, event=event),
            )
        bucket = self._buckets.get(sid)
        if bucket is None:
            bucket = self._buckets[sid] = TokenBucket(self.settings.rate_limit, self.settings.rate_burst)
        if bucket.take():
            return None
        logger.info(
            "rate limited: app=%s sid=%s event=%s",
            self.namespace,
            sid,
            event[:64],
            extra=log_fields(
                sid=sid, user_id=self._table.user(sid), app=self.namespace, event=event, code="rate_limited"
            ),
        )
        return error_ack(ErrorCode.RATE_LIMITED, f"more than {self.settings.rate_limit:g} events per second")

    async def emit_to_sid(self, sid: str, event: Event | str, data: Any = None) -> None:
        """Send to one connection (on any process, with Redis)."""
        await self._send(event, data, [sid], None)

    async def join_room(self, sid: str, room: Target) -> None:
        """Put a connection in a room, without asking ``can_join`` (the server decides); records presence."""
        name = room_name(room, self.namespace)
        await self.sio.enter_room(sid, name, namespace=self.namespace)
        if self._recovery is not None:
            self._recovery.entered(sid, name)
        await self._presence.joined(sid, room)

    async def leave_room(self, sid: str, room: Target) -> None:
        """Take a connection out of a room."""
        name = room_name(room, self.namespace)
        await self.sio.leave_room(sid, name, namespace=self.namespace)
        if self._recovery is not None:
            self._recovery.left(sid, name)
        await self._presence.left(sid, room)

    async def presence(self, room: Target) -> list[PresenceMember]:
        """Who is in a ``presence=True`` room of this application, once per user (all processes with Redis).

        Example:
            >>> asyncio.run(bus.apps["/"].presence(DocRoom(doc_id="readme")))  # nobody yet: see EventBus.presence
            []
        """
        return await self._presence.members(room)

    async def room_moved(self, sid: str, room: str, entered: bool) -> None:
        """Another process put ``sid`` (held here) in ``room`` or took it out, through Redis: record presence."""
        if self._recovery is not None:
            (self._recovery.entered if entered else self._recovery.left)(sid, room)
        await self._presence.moved(sid, room, entered)

    def connection_count(self) -> int:
        """Connections of this application on this process."""
        return len(self._table)

    def connections(self, user_id: str | int | None = None) -> list[ConnectionInfo]:
        """Connections of this application on this process: all of them, or one user's, oldest first.

        Example:
            >>> admin = bus.app("/admin", auth=JWTAuth(secret=ADMIN_SECRET))
            >>> admin.connections("alice")  # none yet: see EventBus.connections for a client connected
            []
        """
        return [self._info(sid) for sid in self._table.sids(None if user_id is None else str(user_id))]

    def is_online(self, user_id: str | int) -> bool:
        """Whether the user has a connection to this application on this process."""
        return self._table.has_user(str(user_id))

    async def disconnect(self, sid: str, reason: str | None = None) -> None:
        """Disconnect one connection (on any process, with Redis); with ``reason``, send ``session_ended`` first."""
        if reason is not None:
            await self.emit_to_sid(sid, SessionEndedEvent(reason=reason))
        self._kicked([sid])
        await self.sio.disconnect(sid, namespace=self.namespace)

    async def disconnect_user(self, user_id: str | int, reason: str | None = None) -> None:
        """Disconnect every connection of a user to this application; with ``reason``, send ``session_ended`` first.

        Example:
            >>> admin = bus.app("/admin", auth=JWTAuth(secret=ADMIN_SECRET))  # later: bus.apps["/admin"]
            >>> with capture_broadcasts() as sent:  # records what is sent: eventbus.testing
            ...     asyncio.run(admin.disconnect_user("mallory", reason="banned"))
            >>> [(s.app, s.name, s.rooms) for s in sent]
            [('/admin', 'session_ended', ['user:mallory'])]
        """
        room = UserRoom(user_id=str(user_id)).name
        if reason is not None:
            await self._send(SessionEndedEvent(reason=reason), None, [room], None)
        self._kicked(self._table.sids(str(user_id)))
        await disconnect_room(self.sio, room, self.namespace)

    def _kicked(self, sids: list[str]) -> None:
        # The disconnect reason of the metrics: "kicked" on this process; others only see python-socketio's "server".
        for sid in sids:
            if sid in self._table:
                self._ending.setdefault(sid, "kicked")

    def _info(self, sid: str) -> ConnectionInfo:
        user = self._table.user(sid)
        try:
            transport: str = self.sio.transport(sid, namespace=self.namespace)
        except KeyError:  # engine.io already dropped the socket; the disconnect handler has not run yet
            transport = "closed"
        return ConnectionInfo(
            sid=sid,
            user_id=user.id if user is not None else None,
            app=self.namespace,
            connected_at=self._table.connected_at(sid),
            rooms=sorted(room for room in self.sio.rooms(sid, namespace=self.namespace) if room != sid),
            transport=transport,
        )

    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        if traffic.isEnabledFor(logging.DEBUG):
            traffic.debug(
                "out app=%s event=%s to=%s skip=%s",
                self.namespace,
                name,
                self._describe(rooms),
                skip_sid or [],
                extra=log_fields(app=self.namespace, event=name),
            )
        recorder = self.recorder
        started = time.perf_counter() if recorder.enabled else 0.0
        attributes = {"eventbus.app": self.namespace, "eventbus.event": name, "eventbus.rooms": len(rooms or ())}
        with tracing.span("eventbus.broadcast", attributes, kind="PRODUCER"):
            await self._deliver(name, data, rooms, skip_sid)
        if recorder.enabled:
            recorder.sent(self.namespace, name, time.perf_counter() - started)

    async def _deliver(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        typed = registry.server_events.get(name, self.namespace)
        volatile = bool(getattr(typed, "volatile", False))  # a typing indicator: not kept, not replayed
        history_rooms = [] if volatile else self._history_rooms(rooms)
        if not volatile and (self._recovery is not None or history_rooms):
            recovery = self._recovery.log if self._recovery is not None else None
            await emit_logged(
                self.sio,
                name,
                data,
                self.namespace,
                rooms,
                skip_sid,
                recovery=recovery,
                history=self._history,
                history_rooms=history_rooms,
            )
            return
        await self.sio.emit(name, data, to=rooms, skip_sid=skip_sid, namespace=self.namespace)

    def _history_rooms(self, rooms: list[str] | None) -> list[tuple[type[Room], str]]:
        # The rooms of a send that keep history: those whose prefix names a history room class of this application.
        if not rooms or not self._keeps_history:
            return []
        found = []
        for name in rooms:
            handlers = self._rooms.get(name.partition(":")[0])
            if handlers is not None and handlers.room.history:
                found.append((handlers.room, name))
        return found

    async def join_history(self, sid: str, room: Room, since: StreamPosition | None) -> dict[str, object]:
        """Enter a history room (``can_join`` already asked) with the events after ``since``: the join ack.

        The room is entered after the history is read and nothing is awaited after that, so the ack
        (sent as this returns) comes before any later event of the room, and each event is in one of the two.
        """
        members = None
        if type(room).presence:
            await self._presence.joined(sid, room)
            members = await self._presence.members(room)
        # Sharded channels: the room's partition is subscribed before the history is read, so each later event
        # is either in the catch-up or received live.
        await subscribe_rooms(self.sio, self.namespace, [room.name])
        caught = await self._history.catch_up(type(room), room.name, since)
        self._history_outcomes["no_position" if since is None else str(caught.recovered).lower()] += 1
        await self.sio.enter_room(sid, room.name, namespace=self.namespace)  # local: does not suspend
        self._history.hold(sid, room.name, caught.position)
        if self._recovery is not None:
            self._recovery.entered(sid, room.name)
        ack = HistoryJoinOk(
            room=room.name,
            recovered=caught.recovered,
            position=caught.position,
            publications=caught.publications,
            members=members,
        )
        return ack.model_dump(mode="json")

    def delivery_counts(self) -> dict[str, int]:
        """Outcomes since start, for metrics: reconnects (``recovery.recovered``, ``.unknown``, ``.refused``,
        ``.too_old``, ``.epoch_changed``) and history joins (``history.true``, ``.false``, ``.no_position``).

        Example:
            >>> bus.delivery_counts()  # a bus without recovery, no history join yet
            {}
        """
        counts = {f"recovery.{key}": n for key, n in (self._recovery.outcomes if self._recovery else {}).items()}
        return counts | {f"history.{key}": n for key, n in self._history_outcomes.items()}

    def _state(self) -> AppState:
        # What the gauges read at scrape time: connections by transport, users, rooms, outcome counts.
        transports: Counter[str] = Counter()
        for sid in self._table.sids():
            try:
                transports[self.sio.transport(sid, namespace=self.namespace)] += 1
            except KeyError:  # engine.io already dropped it; its disconnect handler has not run yet
                continue
        return AppState(
            app=self.namespace,
            transports=dict(transports),
            users=self._table.user_count(),
            rooms=room_count(self.sio, self.namespace),
            outcomes=self.delivery_counts(),
        )

    async def history(self, room: Room, limit: int = 50) -> HistoryList:
        """The last ``limit`` events of a history room of this application, oldest first, and its position.

        Example:
            >>> last = await bus.history(room, 2)  # run by tests/history/test_history_memory.py  # doctest: +SKIP
            >>> [p.offset for p in last.publications]  # run by tests/history/test_history_memory.py  # doctest: +SKIP
            [2, 3]
        """
        if not type(room).history:
            raise ConfigurationError(f"{type(room).__name__} keeps no history: declare it with history=N")
        position, publications = await self._history.last(type(room), room.name, limit)
        return HistoryList(room=room.name, position=position, publications=publications)

    def _describe(self, rooms: list[str] | None) -> str:
        if rooms is None:
            return "everyone"
        named = []
        for room in rooms:
            user = self._table.user(room)  # a sid target: name its user too
            named.append(f"{room}(user={user.id})" if user is not None else room)
        return ",".join(named)

    async def _counted_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        try:
            await self._on_connect(sid, environ, auth)
        except socketio.exceptions.ConnectionRefusedError as exc:
            self.recorder.connect(self.namespace, str(exc.error_args.get("message", "refused")))
            raise
        self.recorder.connect(self.namespace, "accepted")

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        user = await self._authenticate(sid, environ, auth)
        if user is not None:
            self._check_connection_limit(sid, user)
            # Counted from here, so concurrent connects of one user cannot all pass the check.
            self._connecting[user.id] = self._connecting.get(user.id, 0) + 1
        try:
            await self.sio.save_session(sid, {"user": user, "connected_at": time.time()}, namespace=self.namespace)
            restored = None
            if self._recovery is not None:
                restored = await self._recovery.connect(sid, user, auth)  # enters the user: room, restored ones too
            elif user is not None:
                await self.sio.enter_room(sid, UserRoom(user_id=user.id).name, namespace=self.namespace)
            if user is not None:
                self._expiry.schedule(sid, user)
            self._table.add(sid, user)
            if restored is not None:
                for room in restored.rooms:
                    await self._presence.joined(sid, room)
        finally:
            if user is not None:
                left = self._connecting.pop(user.id) - 1
                if left:
                    self._connecting[user.id] = left
        logger.debug(
            "connected app=%s sid=%s user=%s",
            self.namespace,
            sid,
            user and user.id,
            extra=log_fields(sid=sid, user_id=user and user.id, app=self.namespace),
        )

    def _check_connection_limit(self, sid: str, user: User) -> None:
        limit = self.settings.max_connections_per_user
        if self._table.count(user.id) + self._connecting.get(user.id, 0) < limit:
            return
        logger.info(
            "connection refused app=%s sid=%s user=%s: already %d connections (EVENTBUS_MAX_CONNECTIONS_PER_USER)",
            self.namespace,
            sid,
            user.id,
            limit,
            extra=log_fields(sid=sid, user_id=user, app=self.namespace, code="too_many_connections"),
        )
        raise socketio.exceptions.ConnectionRefusedError("too_many_connections")

    async def _start(self) -> None:
        if self._recovery is not None:
            await self._recovery.log.start()
        if any(room.presence for room in self.rooms):
            # Only then: an application without presence rooms needs no Redis keys (its ACL user may have none).
            await self._presence.start()

    async def _stop(self) -> None:
        await self._expiry.cancel_all()
        await self._presence.stop()
        await self._history.close()
        if self._recovery is not None:
            await self._recovery.log.stop()

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        linger = 0.0
        if self._recovery is not None and await self._recovery.disconnected(sid, recoverable=recoverable(reason)):
            linger = self._recovery.log.window  # presence waits for the connection to come back
        await self._presence.disconnected(sid, linger=linger)
        user = self._table.user(sid)
        self._table.remove(sid)
        self._buckets.pop(sid, None)
        self._expiry.cancel(sid)
        label = self._ending.pop(sid, None) or disconnect_reason(reason)
        self.recorder.disconnect(self.namespace, label)
        logger.debug(
            "disconnected app=%s sid=%s reason=%s",
            self.namespace,
            sid,
            reason,
            extra=log_fields(sid=sid, user_id=user and user.id, app=self.namespace, code=label),
        )

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, object]:
        started = time.perf_counter() if self.recorder.enabled else 0.0
        refusal = self.rate_limited(sid, event)
        if refusal is None:
            logger.info(
                "unknown event %r from app=%s sid=%s",
                event[:64],
                self.namespace,
                sid,
                extra=log_fields(
                    sid=sid, user_id=self._table.user(sid), app=self.namespace, event=event, code="unknown_event"
                ),
            )
        ack = refusal or error_ack(ErrorCode.UNKNOWN_EVENT, f"no handler for event {event[:64]!r}")
        if self.recorder.enabled:
            code = "rate_limited" if refusal is not None else "unknown_event"
            self.recorder.client_event(self.namespace, UNKNOWN_EVENT, code, time.perf_counter() - started)
        return ack

    async def _expire(self, sid: str) -> None:
        logger.info(
            "token expired: disconnecting app=%s sid=%s",
            self.namespace,
            sid,
            extra=log_fields(sid=sid, app=self.namespace, code="token_expired"),
        )
        self._ending[sid] = "token_expired"
        await self.emit_to_sid(sid, SessionExpiredEvent(reason="token_expired"))
        await self.sio.disconnect(sid, namespace=self.namespace)

    async def _authenticate(self, sid: str, environ: Mapping[str, Any], auth: Any) -> User | None:
        user: User | None = None
        if self.auth is not None:
            try:
                user = await self.auth(auth, environ)
            except AuthenticationError as exc:
                logger.info(
                    "connection refused app=%s sid=%s: %s",
                    self.namespace,
                    sid,
                    exc,
                    extra=log_fields(sid=sid, app=self.namespace, code="unauthorized"),
                )
                raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
            except Exception as exc:
                logger.exception(
                    "authenticator failed for app=%s sid=%s",
                    self.namespace,
                    sid,
                    extra=log_fields(sid=sid, app=self.namespace, code="unauthorized"),
                )
                raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
        if user is None and not self.allow_anonymous:
            logger.info(
                "connection refused app=%s sid=%s: no credential",
                self.namespace,
                sid,
                extra=log_fields(sid=sid, app=self.namespace, code="unauthorized"),
            )
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        if self.authorize is not None:
            allowed = self.authorize(user, environ)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                logger.info(
                    "connection refused app=%s sid=%s user=%s: not authorized",
                    self.namespace,
                    sid,
                    user and user.id,
                    extra=log_fields(sid=sid, user_id=user and user.id, app=self.namespace, code="forbidden"),
                )
                raise socketio.exceptions.ConnectionRefusedError("forbidden")
        return user
