"""Write-only emitters: send typed events to connected clients from processes that hold no sockets.

A Celery task, a cron script or another service publishes on the Redis
channel the servers listen to; each server delivers to its own sockets.
`Emitter` is the async one (the same `Sender` API as `EventBus`, usable as
the default behind module-level ``broadcast()``); `SyncEmitter` is the
blocking one for sync code.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from typing import TYPE_CHECKING, Any, Self

from eventbus.default import offer_default
from eventbus.exceptions import ConfigurationError
from eventbus.observability.logfields import library_logger
from eventbus.sending import Exclude, Routing, Sender
from eventbus.settings import EventBusSettings
from eventbus.transport.publishing import RemoteLogging, history_room
from eventbus.transport.redis_manager import RedisManager, SyncRedisManager
from events import ANY_APP, Event, SessionEndedEvent, Target, Targets
from events.registry import check_app_path
from events.targets import room_name

if TYPE_CHECKING:
    from types import TracebackType

logger = library_logger(__name__)


def redis_config(
    who: str, redis_url: str | None, channel: str | None, signing_key: str | None, settings: EventBusSettings
) -> tuple[str, str, str | None]:
    """URL, channel and signing key from the arguments, else from ``settings``."""
    url = redis_url or (settings.redis_url.get_secret_value() if settings.redis_url else None)
    if not url:
        raise ConfigurationError(
            f"{who} needs a Redis URL: {who}('redis://host:6379/0') or EVENTBUS_REDIS_URL "
            "(the same Redis and channel as the servers)"
        )
    key = signing_key or (settings.redis_signing_key.get_secret_value() if settings.redis_signing_key else None)
    return url, channel or settings.redis_channel, key


class _Publisher(Routing):
    """What both emitters share: their Redis manager and scoping to another application."""

    manager: RedisManager | SyncRedisManager

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.manager.safe_url!r}, channel={self.manager.channel!r})"

    def _scoped(self, path: str) -> Self:
        if path in (self.namespace, ANY_APP):
            return self
        scoped = copy.copy(self)
        scoped.namespace = check_app_path(path, owner=f"{type(self).__name__}.for_app()")
        return scoped


class Emitter(_Publisher, Sender):
    """Async, write-only: publishes typed events to the servers sharing its Redis channel.

    Options not given come from ``EVENTBUS_REDIS_URL``, ``EVENTBUS_REDIS_CHANNEL``
    and ``EVENTBUS_REDIS_SIGNING_KEY``, which must match the servers'. The first
    `EventBus` or `Emitter` created becomes the default of ``broadcast()``. A
    failed publish raises `PublishError`: nobody received the message.

    Examples:
        >>> async def report_ready() -> None:
        ...     async with Emitter("redis://localhost:6379/0") as emitter:  # checks that Redis answers
        ...         await emitter.broadcast(MessageEvent(chat_id="42", text="report ready"))
        ...         await emitter.emit_to_user("alice", NoticeEvent(text="done"))
        >>> asyncio.run(report_ready())  # needs Redis: run by tests/eventbus/test_emitters.py  # doctest: +SKIP

        In a test, `capture_broadcasts` records what would be published, without Redis:

        >>> emitter = Emitter("redis://localhost:6379/0")  # connects at the first publish
        >>> with capture_broadcasts() as sent:
        ...     asyncio.run(emitter.emit_to_user("alice", NoticeEvent(text="done")))
        >>> [(s.name, s.data, s.rooms) for s in sent]
        [('notice', {'text': 'done'}, ['user:alice'])]
    """

    manager: RedisManager

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        channel: str | None = None,
        signing_key: str | None = None,
        settings: EventBusSettings | None = None,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        settings = settings or EventBusSettings()  # read once: the Redis options and the rest come from it
        url, channel, key = redis_config("Emitter", redis_url, channel, signing_key, settings)
        self.manager = RedisManager(
            url,
            channel=channel,
            signing_key=key,
            write_only=True,
            redis_options=redis_options,
            sharding=settings.redis_sharding,
            partitions=settings.redis_partitions,
            dedicated_rooms=settings.redis_dedicated_rooms,
        )
        # Like the servers: with EVENTBUS_RECOVERY_WINDOW, or to history rooms, events get offsets and positions.
        self._logging = RemoteLogging(
            self.manager, window=settings.recovery_window, max_packets=settings.recovery_max_packets
        )
        offer_default(self)

    async def __aenter__(self) -> Emitter:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Check Redis answers now (`RedisUnavailableError` naming the URL) rather than at the first send."""
        await self.manager.check()

    async def close(self) -> None:
        """Close the connection to Redis."""
        await self._logging.close()
        await self.manager.close()

    async def join_room(self, sid: str, room: Target) -> None:
        """Put the connection ``sid``, on whichever server holds it, in a room (``can_join`` is not asked)."""
        await self.manager.enter_room(sid, self.namespace, room_name(room, self.namespace))

    async def leave_room(self, sid: str, room: Target) -> None:
        """Take the connection ``sid`` out of a room, on whichever server holds it."""
        await self.manager.leave_room(sid, self.namespace, room_name(room, self.namespace))

    async def disconnect(self, sid: str) -> None:
        """Disconnect the connection ``sid``, on whichever server holds it."""
        await self.manager.can_disconnect(sid, self.namespace)  # not local, so it is published

    async def disconnect_user(self, user_id: str | int, reason: str | None = None) -> None:
        """Disconnect every connection of a user, on every server; with ``reason``, send ``session_ended`` first."""
        rooms = self._user_rooms(user_id)
        if reason is not None:
            await self._send(SessionEndedEvent(reason=reason), None, rooms, None)
        await self.manager.disconnect_room(rooms[0], self.namespace)

    def for_app(self, path: str) -> Emitter:
        """This emitter, sending to application ``path`` (a Socket.IO namespace) over the same Redis connection.

        Example:
            >>> emitter = Emitter("redis://localhost:6379/0")
            >>> with capture_broadcasts() as sent:  # records instead of publishing: eventbus.testing
            ...     asyncio.run(emitter.for_app("/admin").broadcast(AdminAlertEvent(text="disk full")))
            >>> [(s.app, s.name, s.rooms) for s in sent]
            [('/admin', 'admin_alert', ['ops'])]
        """
        return self._scoped(path)

    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        if await self._logging.emit(name, data, self.namespace, rooms, skip_sid):
            return
        await self.manager.emit(name, data, namespace=self.namespace, room=rooms, skip_sid=skip_sid)


class SyncEmitter(_Publisher):
    """Blocking, write-only: the `Emitter` API for sync code (Celery tasks, Django views, cron scripts).

    Thread-safe; create one per process and reuse it. An event whose
    ``broadcast_to`` is ``async`` is resolved with ``asyncio.run`` (so not from
    inside a running event loop: use `Emitter` there). Messages are built by the
    same code as the async senders', so application bindings, room names and
    test capture behave the same.

    Example:
        >>> emitter = SyncEmitter("redis://localhost:6379/0")  # connects at the first publish
        >>> with capture_broadcasts() as sent:  # records instead of publishing: eventbus.testing
        ...     emitter.broadcast(MessageEvent(chat_id="42", text="report ready"))
        ...     emitter.for_app("/admin").broadcast(AdminAlertEvent(text="disk full"))
        >>> [(s.app, s.name, s.rooms) for s in sent]
        [('/', 'message', ['chat:42']), ('/admin', 'admin_alert', ['ops'])]
    """

    manager: SyncRedisManager

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        channel: str | None = None,
        signing_key: str | None = None,
        settings: EventBusSettings | None = None,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        settings = settings or EventBusSettings()  # read once: the Redis options and the rest come from it
        url, channel, key = redis_config("SyncEmitter", redis_url, channel, signing_key, settings)
        # With recovery on, its events would reach clients without offsets: a recovered client would silently miss
        # them, so sends that would be logged are refused (volatile ones and joins, leaves, disconnects still work).
        self._recovery = bool(settings.recovery_window)
        self.manager = SyncRedisManager(
            url,
            channel=channel,
            signing_key=key,
            redis_options=redis_options,
            sharding=settings.redis_sharding,
            partitions=settings.redis_partitions,
            dedicated_rooms=settings.redis_dedicated_rooms,
        )

    def __enter__(self) -> SyncEmitter:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Check Redis answers now (`RedisUnavailableError` naming the URL) rather than at the first send."""
        self.manager.check()

    def close(self) -> None:
        """Close the connections to Redis."""
        self.manager.close()

    def for_app(self, path: str) -> SyncEmitter:
        """This emitter, sending to application ``path`` over the same Redis connections."""
        return self._scoped(path)

    def broadcast(self, event: Event, *, exclude: Exclude = None) -> None:
        """Send ``event`` once to every connection in the rooms its ``broadcast_to()`` names."""
        self._event_app(event)
        rooms = self._room_names(_targets_of(event))
        if rooms:
            self._send(event, None, rooms, exclude)

    def emit_to_room(self, room: Targets, event: Event | str, data: Any = None, *, exclude: Exclude = None) -> None:
        """Send to one room (a `Room` or a name), or to several given as an iterable."""
        rooms = self._room_names(room)
        if rooms:
            self._send(event, data, rooms, exclude)

    def emit_to_user(
        self, user_id: str | int, event: Event | str, data: Any = None, *, exclude: Exclude = None
    ) -> None:
        """Send to every connection of one user; silent when they have none."""
        self._send(event, data, self._user_rooms(user_id), exclude)

    def emit_to_all(self, event: Event | str, data: Any = None, *, exclude: Exclude = None) -> None:
        """Send to every connection of the namespace."""
        self._send(event, data, None, exclude)

    def join_room(self, sid: str, room: Target) -> None:
        """Put the connection ``sid``, on whichever server holds it, in a room (``can_join`` is not asked)."""
        self.manager.enter_room(sid, self.namespace, room_name(room, self.namespace))

    def leave_room(self, sid: str, room: Target) -> None:
        """Take the connection ``sid`` out of a room, on whichever server holds it."""
        self.manager.leave_room(sid, self.namespace, room_name(room, self.namespace))

    def disconnect(self, sid: str) -> None:
        """Disconnect the connection ``sid``, on whichever server holds it."""
        self.manager.can_disconnect(sid, self.namespace)

    def disconnect_user(self, user_id: str | int, reason: str | None = None) -> None:
        """Disconnect every connection of a user, on every server; with ``reason``, send ``session_ended`` first."""
        rooms = self._user_rooms(user_id)
        if reason is not None:
            self._send(SessionEndedEvent(reason=reason), None, rooms, None)
        self.manager.disconnect_room(rooms[0], self.namespace)

    def _send(self, event: Event | str, data: Any, rooms: list[str] | None, exclude: Exclude) -> None:
        if not (isinstance(event, Event) and type(event).volatile):
            if self._recovery:
                raise ConfigurationError(_NOT_LOGGED.format(what="with EVENTBUS_RECOVERY_WINDOW set"))
            logged = [name for name in rooms or [] if history_room(name, self.namespace)]
            if logged:
                raise ConfigurationError(_NOT_LOGGED.format(what=f"to history rooms ({', '.join(logged)})"))
        sent = self._message(event, data, rooms, exclude)
        if sent is not None:
            self.manager.emit(sent.name, sent.data, namespace=self.namespace, room=sent.rooms, skip_sid=sent.exclude)


_NOT_LOGGED = (
    "SyncEmitter cannot send events {what} yet: its events would miss the recovery and history streams, so clients "
    "would silently lack them after a reconnect; use the async Emitter (asyncio.run(emitter.broadcast(event)))"
)


def _targets_of(event: Event) -> Targets:
    targets = event.broadcast_to()
    if not inspect.isawaitable(targets):
        return targets
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(targets))
    if inspect.iscoroutine(targets):
        targets.close()
    raise TypeError(
        f"{type(event).__name__}.broadcast_to is async and an event loop is running: "
        "use the async Emitter (await emitter.broadcast(event)) from async code"
    )


async def _awaited(targets: Any) -> Targets:
    result: Targets = await targets
    return result
