"""`EventBus`: the typed API over a ``socketio.AsyncServer`` and the applications (namespaces) it serves."""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from eventbus.applications import Application, ConnectGuard
from eventbus.asgi import Lifespan, combined_app
from eventbus.auth import Authenticator, JWTAuth
from eventbus.default import offer_default
from eventbus.discovery import import_package, rooms_defined_in
from eventbus.exceptions import ConfigurationError
from eventbus.logs import configure_logging
from eventbus.observability.admin_ui import AdminLogin
from eventbus.observability.logfields import library_logger, log_fields
from eventbus.observability.metrics import AppState, MetricsEndpoint, PrometheusRecorder
from eventbus.observability.recorder import NO_RECORDER, Recorder
from eventbus.sending import Sender, encode
from eventbus.serving import gc_threshold, release_gc_threshold
from eventbus.settings import AppSettings, EventBusSettings
from eventbus.transport.admin import AdminUIServer
from eventbus.transport.cluster_recovery import recovery_log_for
from eventbus.transport.guard import InboundGuard, Refusal
from eventbus.transport.managers import client_manager, presence_store_for, start_manager, stop_manager
from eventbus.transport.outbound import SendLimits, SlowConsumer
from eventbus.transport.redis_manager import GAP_REASON, RedisManager
from eventbus.transport.server import Server
from events import (
    ANY_APP,
    DEFAULT_APP,
    Event,
    PresenceMember,
    Room,
    SessionEndedEvent,
    Target,
    User,
    UserRoom,
    WrongApplicationError,
)
from events.registry import check_app_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import ModuleType, TracebackType

    from eventbus.inbound.connections import ConnectionInfo
    from eventbus.inbound.handlers import E, Handler
    from eventbus.presence.store import PresenceStore
    from events.history import HistoryList

__all__ = ["ConnectGuard", "EventBus", "authenticator_from"]

logger = library_logger(__name__)


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


def server_options(settings: EventBusSettings, socketio_options: Mapping[str, Any]) -> dict[str, Any]:
    """``socketio.AsyncServer`` options: the effective settings, then ``socketio_options`` over them."""
    options: dict[str, Any] = {
        "max_http_buffer_size": settings.max_payload_bytes,
        "ping_interval": settings.ping_interval,
        "ping_timeout": settings.ping_timeout,
        "compression_threshold": settings.compression_threshold,
        "transports": list(settings.transports),
    }
    return {**options, **socketio_options}


def effective_settings(settings: EventBusSettings | None, options: Mapping[str, Any]) -> EventBusSettings:
    """One settings object: keyword ``options`` over ``settings`` (or over ``EVENTBUS_*`` when it is ``None``).

    Unknown names are refused, so a misspelt option never goes unnoticed.

    Example:
        >>> effective_settings(EventBusSettings(rate_limit=5), {"max_rooms": 2}).model_dump(
        ...     include={"rate_limit", "max_rooms"})
        {'rate_limit': 5.0, 'max_rooms': 2}
        >>> effective_settings(None, {"max_room": 2})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        eventbus.exceptions.ConfigurationError: EventBus got an unknown option 'max_room' (did you mean 'max_rooms'?)...
    """
    fields = EventBusSettings.model_fields
    for name in options:
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(
                f"EventBus got an unknown option {name!r}{hint}; options are the EventBusSettings fields "
                "(see the configuration reference), and python-socketio's own go in socketio_options={...}"
            )
    given = {name: value for name, value in options.items() if value is not None}
    if settings is None:
        return EventBusSettings(**given)
    return EventBusSettings.model_validate({**dict(settings), **given}) if given else settings


def _admin_login(settings: EventBusSettings) -> Any:
    """The ``auth`` of python-socketio's ``instrument()`` for ``settings.admin_ui``; refuses what cannot be safe."""
    admin = settings.admin_ui
    if admin is None:
        return None
    check_app_path(admin.namespace, owner="the Admin UI namespace")
    clash = [declared.path for declared in settings.apps if declared.path == admin.namespace]
    if admin.namespace == DEFAULT_APP or clash:
        raise ConfigurationError(
            f"the Admin UI namespace {admin.namespace!r} is an application's path; choose another "
            '(EVENTBUS_ADMIN_UI={"namespace": "/socketio-admin", ...})'
        )
    if admin.username is None or admin.password_hash is None:
        if admin.mode != "development":
            raise ConfigurationError(
                "the Admin UI needs username and password_hash outside development mode: "
                "make a hash with `eventbus admin-password`"
            )
        logger.warning("the Admin UI at namespace %s accepts anyone: development mode, no password", admin.namespace)
        return False
    return AdminLogin(admin.username, admin.password_hash.get_secret_value()).check


class EventBus(Sender):
    """Authenticated connections, typed rooms and typed broadcasts on one Socket.IO server.

    The bus is the application ``/``; ``bus.app(path, ...)`` adds others, each a
    Socket.IO namespace with its own auth policy, rooms and handlers. With no
    ``redis_url`` the bus is in memory (one process); with one, every process
    sharing that Redis (and ``redis_channel``) delivers to its own sockets, and
    ``redis_signing_key`` makes them sign and check every Redis message. Use
    ``asgi_app()`` (or ``async with bus``) so Redis is checked at startup and
    the listener stopped at shutdown.

    Every field of `EventBusSettings` can be passed by name (``rate_limit=5``,
    ``max_rooms=50``, ``redis_url=...``); the effective settings are those
    arguments over ``settings=`` (or over the ``EVENTBUS_*`` environment when it
    is not given), and ``bus.settings`` holds them. An unknown name raises
    `ConfigurationError`. ``socketio_options`` go to ``socketio.AsyncServer`` as
    they are; ``bus.sio`` is that server.

    Example:
        >>> from fastapi import FastAPI
        >>> bus = EventBus(auth=JWTAuth(secret=SECRET), rooms=[ChatRoom], max_rooms=50)
        >>> app = bus.asgi_app(other_asgi_app=FastAPI())  # serve with: uvicorn module:app
        >>> asyncio.run(bus.broadcast(MessageEvent(chat_id="42", text="hi")))  # in async code: await bus.broadcast(...)
    """

    def __init__(
        self,
        auth: Authenticator | None = None,
        *,
        rooms: Iterable[type[Room]] = (),
        authorize: ConnectGuard | None = None,
        cors_allowed_origins: str | list[str] | None = None,
        settings: EventBusSettings | None = None,
        presence_store: PresenceStore | None = None,
        socketio_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(cors_allowed_origins, str):
            cors_allowed_origins = [cors_allowed_origins]
        if cors_allowed_origins is not None:
            options["cors_origins"] = cors_allowed_origins
        self.settings = effective_settings(settings, options)
        auth = auth or authenticator_from(self.settings)
        anonymous = self.settings.allow_anonymous
        if auth is None and not anonymous:
            raise ConfigurationError(
                "EventBus needs auth=JWTAuth(...) (or EVENTBUS_JWT_SECRET / EVENTBUS_JWT_PUBLIC_KEY), "
                "or allow_anonymous=True for a bus without authentication"
            )
        self.cors_allowed_origins = self.settings.cors_origins
        secret_url, secret_key = self.settings.redis_url, self.settings.redis_signing_key
        self.redis_url = secret_url.get_secret_value() if secret_url else None
        loggers = configure_logging(
            self.settings.log_level, self.settings.socketio_log_level, self.settings.engineio_log_level
        )
        manager = client_manager(
            self.redis_url,
            channel=self.settings.redis_channel,
            signing_key=secret_key.get_secret_value() if secret_key else None,
            fast_emit=self.settings.fast_emit,
            coalesce_turns=self.settings.coalesce_turns,
            sharding=self.settings.redis_sharding,
            partitions=self.settings.redis_partitions,
            dedicated_rooms=self.settings.redis_dedicated_rooms,
        )
        self.sio = Server(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=self.cors_allowed_origins,
            **server_options(self.settings, {**loggers, **(socketio_options or {})}),
        )
        if isinstance(manager, RedisManager):
            manager.room_listener = self._room_moved
        self._recorder: Recorder = PrometheusRecorder(self._app_states) if self.settings.metrics else NO_RECORDER
        if manager is not None:
            manager.recorder = self._recorder
        self._recovery_log = recovery_log_for(self.sio.manager, self.settings)
        self.send_limits = SendLimits(
            max_bytes=self.settings.max_queue_bytes,
            write_timeout=self.settings.write_timeout,
            farewell=encode(SessionEndedEvent(reason="slow_consumer")),
            on_slow=self._slow_consumer,
        )
        self.send_limits.install(self.sio)
        if isinstance(manager, RedisManager):
            manager.gap_listener = self._redis_gap
        self.inbound_guard = InboundGuard(
            max_bytes=self.settings.max_payload_bytes,
            on_invalid=self._invalid_packet,
            end=self.send_limits.end,
            accepts_binary=self._accepts_binary,
        )
        self.inbound_guard.install(self.sio, fast_acks=self.settings.fast_emit)
        self.send_limits.on_bad_frame = self.inbound_guard.bad_frame
        self.send_limits.on_message = self.inbound_guard.answer_now
        self.default_app = Application(
            self.sio,
            DEFAULT_APP,
            settings=self.settings,
            presence_store=presence_store or presence_store_for(manager, self.settings),
            auth=auth,
            allow_anonymous=anonymous,
            authorize=authorize,
            rooms=rooms,
            recovery_log=self._recovery_log,
            recorder=self._recorder,
        )
        self._apps: dict[str, Application] = {DEFAULT_APP: self.default_app}
        self._admin_login = _admin_login(self.settings)
        self._admin_ui: AdminUIServer | None = None
        self._gc_raised = False
        for declared in self.settings.apps:
            self._declare(declared)
        offer_default(self)

    def __repr__(self) -> str:
        rooms = sorted(self.default_app._rooms)
        return f"EventBus(apps={sorted(self._apps)}, rooms={rooms}, redis={self.redis_url is not None})"

    @property
    def auth(self) -> Authenticator | None:
        """The authenticator of the application ``/``."""
        return self.default_app.auth

    @property
    def allow_anonymous(self) -> bool:
        """Whether the application ``/`` accepts connections without a credential."""
        return self.default_app.allow_anonymous

    @property
    def apps(self) -> Mapping[str, Application]:
        """Every application by path, ``/`` (this bus's own) included; read-only."""
        return MappingProxyType(self._apps)

    def app(
        self,
        path: str,
        *,
        auth: Authenticator | None = None,
        allow_anonymous: bool = False,
        authorize: ConnectGuard | None = None,
        rooms: Iterable[type[Room]] = (),
        presence_store: PresenceStore | None = None,
    ) -> Application:
        """Add an application: a Socket.IO namespace with its own auth policy, rooms and handlers.

        ``auth`` defaults to the bus's authenticator; anonymous connections are
        refused unless ``allow_anonymous=True``. Clients connect to
        ``io(url + path)``. Events and rooms declared with ``app=path`` belong here.
        Presence is kept apart per application (with Redis, under
        ``{channel}:presence:{path}``).

        Example:
            >>> admin = bus.app("/admin", auth=JWTAuth(secret=ADMIN_SECRET), rooms=[OpsRoom])
            >>> feed = bus.app("/status", allow_anonymous=True)
            >>> sorted(bus.apps)
            ['/', '/admin', '/status']
        """
        check_app_path(path, owner="bus.app()")
        if path == ANY_APP:
            raise ConfigurationError("'*' binds events and rooms to every application; it is not an application path")
        if path in self._apps:
            raise ConfigurationError(f"application {path!r} already exists; bus.apps[{path!r}] returns it")
        admin = self.settings.admin_ui
        if admin is not None and path == admin.namespace:
            raise ConfigurationError(
                f"application {path!r} is the Admin UI's namespace; give the Admin UI another one "
                '(EVENTBUS_ADMIN_UI={"namespace": "/socketio-admin", ...}) or the application another path'
            )
        application = Application(
            self.sio,
            path,
            settings=self.settings,
            presence_store=presence_store or presence_store_for(self.sio.manager, self.settings, namespace=path),
            auth=auth or self.auth,
            allow_anonymous=allow_anonymous,
            authorize=authorize,
            rooms=rooms,
            recovery_log=self._recovery_log,
            recorder=self._recorder,
        )
        self._apps[path] = application
        return application

    def _declare(self, declared: AppSettings) -> Application:
        overrides = declared.jwt_overrides()
        auth = authenticator_from(self.settings.model_copy(update=overrides)) if overrides else None
        return self.app(declared.path, auth=auth, allow_anonymous=declared.allow_anonymous)

    def for_app(self, path: str) -> Application:
        """The application events bound to ``path`` are sent through (``*``: the application ``/``)."""
        application = self._apps.get(DEFAULT_APP if path == ANY_APP else path)
        if application is None:
            raise WrongApplicationError(f"this bus has no application {path!r}; declare it with bus.app({path!r}, ...)")
        return application

    @property
    def rooms(self) -> list[type[Room]]:
        """The room classes clients of the application ``/`` can join and leave, sorted by prefix."""
        return self.default_app.rooms

    def add_room(self, room: type[Room]) -> None:
        """Register ``join_<prefix>`` and ``leave_<prefix>`` handlers for a room class of the application ``/``."""
        self.default_app.add_room(room)

    def on(self, event: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Register the handler of a client event of the application ``/``; see `Application.on`.

        Example:
            >>> @bus.on(SendMessage)
            ... async def send_message(ctx: Context, msg: SendMessage) -> MessageAck: ...
        """
        return self.default_app.on(event)

    def autodiscover(self, package: str) -> list[ModuleType]:
        """Import every module of ``package`` so its events, rooms and handlers register.

        Room classes defined in those modules become joinable in their own
        application (``app=`` of the class; ``*`` rooms in every application).

        Example:
            >>> modules = bus.autodiscover("tests.eventbus.discovered_app")  # yours, say: "app.socketio_events"
            >>> [room.prefix for room in bus.rooms]
            ['chat', 'discovered_order', 'discovered_team', 'doc']
        """
        modules = import_package(package)
        for room in rooms_defined_in(modules):
            if room is UserRoom:
                continue
            targets = self._apps.values() if room.app_path == ANY_APP else [self._room_app(room)]
            for application in targets:
                if room.prefix not in application._rooms:
                    application.add_room(room)
        return modules

    def _room_app(self, room: type[Room]) -> Application:
        application = self._apps.get(room.app_path)
        if application is None:
            raise ConfigurationError(
                f"{room.__name__} belongs to application {room.app_path!r}, which this bus does not have; "
                f"declare it first with bus.app({room.app_path!r}, ...) or EVENTBUS_APPS"
            )
        return application

    def asgi_app(self, other_asgi_app: Any = None, *, socketio_path: str = "socket.io") -> Any:
        """The ASGI application serving Socket.IO at ``/socket.io/`` and ``other_asgi_app`` for the rest.

        When CORS origins are configured, the same origins are applied to the
        other application (through Starlette's ``CORSMiddleware``).

        Example:
            >>> from fastapi import FastAPI
            >>> app = bus.asgi_app(other_asgi_app=FastAPI())
        """
        app = combined_app(self.sio, other_asgi_app, origins=self.cors_allowed_origins, socketio_path=socketio_path)
        if isinstance(self._recorder, PrometheusRecorder):
            app = MetricsEndpoint(app, self.settings.metrics_path, self._recorder.render)
        return Lifespan(app, self.start, self.stop)

    @property
    def metrics(self) -> PrometheusRecorder | None:
        """The bus's Prometheus metrics (``metrics=True``), ``None`` when off.

        ``bus.metrics.registry`` is their ``prometheus_client.CollectorRegistry``: serve it from
        your own endpoint (``prometheus_client.make_asgi_app(bus.metrics.registry)``) or add it to
        the default one (``prometheus_client.REGISTRY.register(bus.metrics.registry)``);
        ``asgi_app()`` already serves it at ``EVENTBUS_METRICS_PATH``.

        Example:
            >>> metered = EventBus(auth=JWTAuth(secret=SECRET), metrics=True)
            >>> metered.metrics.registry.get_sample_value("eventbus_users", {"app": "/"})
            0.0
            >>> bus.metrics is None  # off by default
            True
        """
        return self._recorder if isinstance(self._recorder, PrometheusRecorder) else None

    def _user_id_of(self, sid: str, namespace: str) -> str | None:
        application = self._apps.get(namespace)
        user = application._table.user(sid) if application is not None else None
        return user.id if user is not None else None

    def _app_states(self) -> list[AppState]:
        return [application._state() for application in self._apps.values()]

    async def start(self) -> None:
        """Connect to Redis and listen now; ``asgi_app()`` calls it at startup, so a bad URL stops the server.

        Raises `RedisUnavailableError` naming the URL (password hidden). Without
        Redis there is nothing to connect to. Once started, the garbage collector runs
        with ``EVENTBUS_GC_THRESHOLD`` until `stop` (`eventbus.serving.gc_threshold`).
        """
        await start_manager(self.sio)
        for application in self._apps.values():
            await application._start()
        admin = self.settings.admin_ui
        if admin is not None and self._admin_ui is None:
            self._admin_ui = AdminUIServer(
                self.sio,
                user_of=self._user_id_of,
                auth=self._admin_login,
                namespace=admin.namespace,
                read_only=admin.read_only,
                mode=admin.mode,
                server_stats_interval=admin.server_stats_interval,
            )
        if self.settings.gc_threshold and not self._gc_raised:  # last: a start that failed leaves nothing to undo
            gc_threshold(self.settings.gc_threshold)
            self._gc_raised = True

    async def stop(self) -> None:
        """Stop listening to Redis and close its connections; ``asgi_app()`` calls it at shutdown."""
        if self._gc_raised:
            release_gc_threshold()
            self._gc_raised = False
        if self._admin_ui is not None:
            await self._admin_ui.remove()
            self._admin_ui = None
        for application in self._apps.values():
            await application._stop()
        await self.send_limits.stop()
        if self.inbound_guard.fast_acks is not None:
            await self.inbound_guard.fast_acks.stop()
        await stop_manager(self.sio)

    async def __aenter__(self) -> EventBus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _holding(self, sid: str) -> Application:
        # A sid belongs to one namespace; on this process the tables say which, elsewhere it is assumed to be "/".
        for application in self._apps.values():
            if sid in application._table:
                return application
        return self.default_app

    async def get_user(self, sid: str) -> User | None:
        """The user a connection (of any application on this process) authenticated as; ``None`` if anonymous."""
        return await self._holding(sid).get_user(sid)

    def joined_rooms(self, sid: str) -> list[str]:
        """Rooms this process has ``sid`` in, apart from its own sid room and its ``user:`` room."""
        return self._holding(sid).joined_rooms(sid)

    async def emit_to_sid(self, sid: str, event: Event | str, data: Any = None) -> None:
        """Send to one connection: of its application when it is on this process, else of ``/``."""
        await self._holding(sid).emit_to_sid(sid, event, data)

    async def join_room(self, sid: str, room: Target) -> None:
        """Put a connection in a room, without asking ``can_join`` (the server decides)."""
        await self._holding(sid).join_room(sid, room)

    async def leave_room(self, sid: str, room: Target) -> None:
        """Take a connection out of a room."""
        await self._holding(sid).leave_room(sid, room)

    async def presence(self, room: Target) -> list[PresenceMember]:
        """Who is in a ``presence=True`` room of the application ``/``; see `Application.presence`.

        Example:
            >>> async def main() -> None:
            ...     async with serve(bus.asgi_app()) as url:  # serve and SocketTestClient: eventbus.testing
            ...         alice = await SocketTestClient(url, token=token("alice")).connect()
            ...         await alice.call("join_doc", {"doc_id": "readme"})
            ...         print([m.user_id for m in await bus.presence(DocRoom(doc_id="readme"))])
            ...         await alice.close()
            >>> asyncio.run(main())
            ['alice']
        """
        return await self.default_app.presence(room)

    def delivery_counts(self) -> dict[str, int]:
        """Recovery and history-join outcomes of every application, summed; see `Application.delivery_counts`.

        Example:
            >>> bus.delivery_counts()
            {}
        """
        total: dict[str, int] = {}
        for application in self._apps.values():
            for key, count in application.delivery_counts().items():
                total[key] = total.get(key, 0) + count
        return total

    async def history(self, room: Room, limit: int = 50) -> HistoryList:
        """The last ``limit`` events of a ``history=N`` room of the application ``/``; see `Application.history`."""
        return await self.default_app.history(room, limit)

    async def _room_moved(self, sid: str, room: str, entered: bool) -> None:
        # Another process put one of our sockets in a room (or took it out) through Redis: its application
        # records presence, since only the process holding a socket knows its user.
        await self._holding(sid).room_moved(sid, room, entered)

    def _redis_gap(self) -> int:
        # The recovery stream could not fill a gap in the Redis subscription: any connection may have missed events.
        # Its transport closed, socket.io-client reconnects by itself and is told it was not recovered.
        return self.send_limits.end_all(GAP_REASON, encode(SessionEndedEvent(reason=GAP_REASON)))

    def _invalid_packet(self, refusal: Refusal) -> str:
        # Counted against the connection's rate limit like any message; the guard logs (rate-limited) and strikes.
        application = self._apps.get(refusal.namespace)
        if application is None or refusal.sid is None or refusal.sid not in application._table:
            return f"engine.io sid={refusal.eio_sid}"
        application.rate_limited(refusal.sid, "invalid_packet")
        application.recorder.invalid_packet(refusal.namespace)
        user = application._table.user(refusal.sid)
        return f"app={refusal.namespace} sid={refusal.sid} user={user.id if user is not None else None}"

    def _accepts_binary(self, namespace: str, event: str) -> bool:
        application = self._apps.get(namespace)
        return application is not None and application.accepts_binary(event)

    def _slow_consumer(self, slow: SlowConsumer) -> None:
        # One line per dropped connection, written before its disconnect handlers forget its user.
        who, fields = [], log_fields(code="slow_consumer")
        for path, sid in slow.sids.items():
            application = self._apps.get(path)
            user = application._table.user(sid) if application is not None else None
            who.append(f"app={path} sid={sid} user={user.id if user is not None else None}")
            if fields["sid"] is None:  # the fields name one of its namespaces' sockets: the first
                fields = log_fields(sid=sid, user_id=user, app=path, code="slow_consumer")
        logger.warning(
            "slow consumer disconnected (%s): %s; %d bytes waiting (EVENTBUS_MAX_QUEUE_BYTES=%d)",
            "write timeout" if slow.cause == "write_timeout" else "queue over its bound",
            ", ".join(who) or f"engine.io sid={slow.eio_sid} (no namespace)",
            slow.queued_bytes,
            self.settings.max_queue_bytes,
            extra=fields,
        )

    async def disconnect(self, sid: str, reason: str | None = None) -> None:
        """Disconnect one connection (see `Application.disconnect`): of its application when on this process."""
        await self._holding(sid).disconnect(sid, reason)

    def connection_count(self, app: str | None = None) -> int:
        """Connections on this process: of every application, or of the one at path ``app``.

        Example:
            >>> admin = bus.app("/admin", auth=JWTAuth(secret=ADMIN_SECRET))
            >>> bus.connection_count(), bus.connection_count("/admin")  # see connections() for a client connected
            (0, 0)
        """
        if app is not None:
            return self.for_app(app).connection_count()
        return sum(application.connection_count() for application in self._apps.values())

    def connections(self, user_id: str | int | None = None) -> list[ConnectionInfo]:
        """Connections on this process, of every application (by path, oldest first within each): all, or one user's.

        Example:
            >>> async def main() -> None:
            ...     async with serve(bus.asgi_app()) as url:  # serve and SocketTestClient: eventbus.testing
            ...         alice = await SocketTestClient(url, token=token("alice")).connect()
            ...         print([(c.app, c.transport, c.rooms) for c in bus.connections("alice")])
            ...         print(bus.connection_count(), bus.is_online("alice"), bus.is_online("bob"))
            ...         await alice.close()
            >>> asyncio.run(main())
            [('/', 'websocket', ['user:alice'])]
            1 True False
        """
        return [info for path in sorted(self._apps) for info in self._apps[path].connections(user_id)]

    def is_online(self, user_id: str | int) -> bool:
        """Whether the user has a connection to any application on this process.

        Example:
            >>> bus.is_online("alice")  # see connections() for a client connected
            False
        """
        return any(application.is_online(user_id) for application in self._apps.values())

    async def disconnect_user(self, user_id: str | int, reason: str | None = None) -> None:
        """Disconnect every connection of a user in every application; with ``reason``, send ``session_ended`` first.

        Example:
            >>> with capture_broadcasts() as sent:  # records what is sent: eventbus.testing
            ...     asyncio.run(bus.disconnect_user("mallory", reason="banned"))
            >>> [(s.name, s.data, s.rooms) for s in sent]
            [('session_ended', {'reason': 'banned'}, ['user:mallory'])]
        """
        for application in self._apps.values():
            await application.disconnect_user(user_id, reason)

    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        await self.default_app._emit(name, data, rooms, skip_sid)
