"""Presence rooms at run time: record members as connections join, leave and drop, and announce the changes.

The bus calls `Presence` from ``join_room``, ``leave_room`` and the disconnect
handler; the `PresenceStore` decides who arrived first and who left last, so
``presence_join`` and ``presence_leave`` go out once per user, not per tab.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from redis.exceptions import RedisError

from eventbus.exceptions import EventError, PublishError
from eventbus.inbound.handlers import Context  # noqa: TC001 - bus.on() reads the handler's annotations at run time
from eventbus.inbound.joins import in_or_may_join
from eventbus.observability.logfields import library_logger
from events import InvalidNameError, Room, Target
from events.acks import ErrorCode
from events.presence import PresenceJoinEvent, PresenceLeaveEvent, PresenceList, PresenceMember, PresenceQuery
from events.rooms import room_from_name
from events.targets import room_name

if TYPE_CHECKING:
    from eventbus.inbound.host import Host
    from eventbus.presence.store import PresenceStore
    from events import User

logger = library_logger(__name__)


def presence_room(room: Target, app: str = "/") -> Room | None:
    """The room object of ``room`` (a name is read as a room of application ``app``) when it is a presence room.

    Example:
        >>> presence_room("user:7") is None
        True
    """
    if isinstance(room, str):
        try:
            room = room_from_name(room, app)
        except (InvalidNameError, ValueError):
            return None
    return room if type(room).presence else None


async def member_of(room: Room, user: User) -> PresenceMember:
    """The `PresenceMember` for ``user`` in ``room``, from the room's ``presence_info`` hook."""
    info: Any = room.presence_info(user)
    if inspect.isawaitable(info):
        info = await info
    if isinstance(info, BaseModel):
        info = info.model_dump(mode="json", by_alias=True)
    return PresenceMember(user_id=user.id, info=dict(info))


class Presence:
    """Tracks this process's connections in one application's presence rooms; announces arrivals and departures."""

    def __init__(self, bus: Host, store: PresenceStore) -> None:
        self.bus = bus
        self.store = store
        self._joined: dict[str, dict[str, str]] = {}  # sid -> {room name: user id}
        self._started = False
        self._lingering: dict[str, asyncio.TimerHandle | asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Start the store (heartbeat and reaper with Redis); called by ``bus.start()`` or at the first join."""
        if not self._started:
            self._started = True
            await self.store.start(self._announce_leave)

    async def stop(self) -> None:
        """Stop the store's background work (and forget connections lingering after a drop)."""
        pending, self._lingering = list(self._lingering.values()), {}
        for item in pending:
            item.cancel()
        await asyncio.gather(*(item for item in pending if isinstance(item, asyncio.Task)), return_exceptions=True)
        if self._started:
            self._started = False
            await self.store.stop()

    async def members(self, room: Target) -> list[PresenceMember]:
        """The members of ``room`` (every process with Redis), sorted by user id."""
        return await self.store.members(room_name(room))

    async def joined(self, sid: str, room: Target) -> None:
        """Record ``sid`` (already in the room) and announce its user if this is their first connection there."""
        typed = presence_room(room, self.bus.namespace)
        if typed is None:
            return
        user = await self.bus.get_user(sid)
        if user is None:
            return  # anonymous (or not on this process): not a member
        rooms = self._joined.setdefault(sid, {})
        if typed.name in rooms:
            return  # a second join of the same room changes nothing
        rooms[typed.name] = user.id
        await self.start()
        member = await member_of(typed, user)
        first = await self.store.add(typed.name, member, sid)
        if typed.name not in self._joined.get(sid, {}):
            # It disconnected or left while the store was adding: that removal ran before the add, so undo it.
            await self._remove(sid, typed.name, user.id)
            return
        if first:
            await self.bus.emit_to_room(typed.name, PresenceJoinEvent(room=typed.name, member=member), exclude=sid)

    async def left(self, sid: str, room: Target) -> None:
        """Forget ``sid`` in ``room``; announce its user's departure if it was their last connection there."""
        name = room_name(room)
        user_id = self._joined.get(sid, {}).pop(name, None)
        if user_id is not None:
            await self._remove(sid, name, user_id)

    async def moved(self, sid: str, room: str, entered: bool) -> None:
        """Another process put ``sid`` (held here) in ``room`` or took it out, through Redis."""
        await (self.joined(sid, room) if entered else self.left(sid, room))

    async def disconnected(self, sid: str, *, linger: float = 0) -> None:
        """Forget every presence room of ``sid``, announcing each user whose last connection this was.

        With ``linger`` (a lost connection that may be recovered within that many seconds) this happens
        only then: a connection restored meanwhile is a member again before the old one is removed, so
        the others see no leave and no join.
        """
        if linger > 0 and self._joined.get(sid):
            self._lingering[sid] = asyncio.get_running_loop().call_later(linger, self._expire_lingering, sid)
            return
        for name, user_id in self._joined.pop(sid, {}).items():
            await self._remove(sid, name, user_id)

    def _expire_lingering(self, sid: str) -> None:
        self._lingering[sid] = asyncio.create_task(self._end_lingering(sid), name=f"eventbus-presence-linger-{sid}")

    async def _end_lingering(self, sid: str) -> None:
        try:
            await self.disconnected(sid)
        finally:
            self._lingering.pop(sid, None)

    async def _remove(self, sid: str, name: str, user_id: str) -> None:
        try:
            member = await self.store.remove(name, user_id, sid)
        except (RedisError, OSError) as exc:
            # One line while Redis is away (make soak logged a traceback per member); its entry expires with the
            # node's heartbeat, so the member is not listed for ever.
            logger.error("presence: could not remove sid=%s user=%s from %s: %r", sid, user_id, name, exc)
            return
        except Exception:
            logger.exception("presence: could not remove sid=%s user=%s from %s", sid, user_id, name)
            return
        if member is None:
            return
        try:
            await self.bus.emit_to_room(name, PresenceLeaveEvent(room=name, member=member), exclude=sid)
        except PublishError as exc:
            # Raised out of a disconnect handler, it would stop python-socketio and the bus from releasing the
            # connection: a ghost in connection_count() for as long as the process runs (found by make soak).
            logger.warning("presence: could not announce that user=%s left %s: %s", user_id, name, exc)

    async def _announce_leave(self, room: str, member: PresenceMember) -> None:
        await self.bus.emit_to_room(room, PresenceLeaveEvent(room=room, member=member))


async def query_presence(ctx: Context, request: PresenceQuery) -> PresenceList:
    """The ``presence`` client event: the members of a presence room the connection is in or may join."""
    room = presence_room(request.room, ctx.bus.namespace)
    if room is None:
        raise EventError(ErrorCode.INVALID_PAYLOAD, f"{request.room} is not a presence room")
    if not await in_or_may_join(ctx.bus, ctx.sid, ctx.user, room):
        raise EventError(ErrorCode.FORBIDDEN, f"you may not see who is in {room.name}")
    return PresenceList(room=room.name, members=await ctx.bus.presence(room))
