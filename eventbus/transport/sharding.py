"""Room-sharded pub/sub: a room's messages go to one of a bounded number of partition channels.

With ``EVENTBUS_REDIS_SHARDING`` off, every process subscribes to the one channel
(``EVENTBUS_REDIS_CHANNEL``) and receives every message of the deployment. With it on,
an emit to a single room is published on ``{channel}#{n}``, ``n`` the room name's
CRC-32 modulo ``EVENTBUS_REDIS_PARTITIONS``, and a process subscribes to a partition
only while it holds a socket in one of that partition's rooms (socket.io's redis adapter
calls this the "dynamic" subscription mode of its sharded adapter). What must reach every
process stays on the channel itself, the control channel: emits to all sockets, to
several rooms at once (each socket once, which two partitions could not promise), to a
socket id, or with an ack callback; room moves; disconnects.

Rooms that are sharded are the bus's named rooms (``prefix:key``, so ``user:42`` too); a
name without ``:`` is a socket id or a raw python-socketio room and takes the control channel,
so that a process is not subscribed to every partition by its sockets' own rooms.

Subscribe before the ack: `Subscriptions.want` returns only once Redis has confirmed
the partition's SUBSCRIBE (the reply comes after every PUBLISH Redis handled before it,
and before every later one), and the manager enters the room after that, so a message
published after the join's ack is always received. A partition is unsubscribed when its
last local room empties; a message still in flight then finds no member and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 64
WANT_TIMEOUT = 10.0
"""Seconds a join waits for its partition's subscription before going ahead anyway (logged): Redis is down."""


def is_sharded_room(room: object) -> bool:
    """Whether ``room`` has a partition: a bus room name (``prefix:key``), not a socket id or the whole namespace.

    Example:
        >>> is_sharded_room("chat:42"), is_sharded_room("Kq3x9w0AAAB"), is_sharded_room(None)
        (True, False, False)
    """
    return isinstance(room, str) and ":" in room


class Partitions:
    """The channel of each message: a partition channel for one sharded room, the control channel otherwise."""

    def __init__(self, channel: str, count: int) -> None:
        if count < 1:
            raise ValueError(f"Redis partitions must be a number >= 1 (got {count!r})")
        self.channel = channel
        self.count = count
        self.names = [f"{channel}#{n}" for n in range(count)]

    def of(self, room: str) -> str:
        """The partition channel of ``room``: the same on every process (CRC-32, not Python's salted hash)."""
        return self.names[zlib.crc32(room.encode()) % self.count]

    def room_of(self, message: dict[str, Any]) -> str | None:
        """The one sharded room an emit targets, or ``None`` when it must go to every process."""
        if message.get("method") != "emit" or message.get("callback"):
            return None
        room = message.get("room")
        if isinstance(room, list):
            room = room[0] if len(room) == 1 else None
        return room if is_sharded_room(room) else None

    def split(self, rooms: list[str]) -> dict[str, list[str]]:
        """``rooms`` by the channel each is published on (a room without a partition: the control channel).

        Example:
            >>> Partitions("app", 4).split(["chat:1", "chat:2", "chat:3", "Kq3x9w0AAAB"])
            {'app#2': ['chat:1', 'chat:3'], 'app#0': ['chat:2'], 'app': ['Kq3x9w0AAAB']}
        """
        parts: dict[str, list[str]] = {}
        for room in rooms:
            parts.setdefault(self.of(room) if is_sharded_room(room) else self.channel, []).append(room)
        return parts

    def channel_for(self, message: dict[str, Any]) -> str:
        """Where ``message`` is published."""
        room = self.room_of(message)
        return self.channel if room is None else self.of(room)


class Subscriptions:
    """Which partition channels this process listens to: those of the rooms it has local members in.

    The listener owns the pub/sub connection; this object sends SUBSCRIBE/UNSUBSCRIBE on it,
    is told of confirmations (`confirmed`) and of lost connections (`lost`), and gives the full
    list to subscribe to again after a reconnection (`channels`).
    """

    def __init__(self, partitions: Partitions) -> None:
        self.partitions = partitions
        self.rooms: dict[str, set[tuple[str, str]]] = {}
        self.pubsub: Any = None
        self.sharded_commands = False
        self._active: set[str] = set()
        self.confirmations: dict[str, int] = {}
        """SUBSCRIBE confirmations per channel (the control channel's too): a new one starts a new subscription."""
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> frozenset[str]:
        """The partition channels Redis has confirmed and not been told to drop."""
        return frozenset(self._active)

    def channels(self) -> list[str]:
        """Every channel to subscribe to on a (new) connection: the control channel and the wanted partitions."""
        return [self.partitions.channel, *sorted(ch for ch, rooms in self.rooms.items() if rooms)]

    async def want(self, namespace: str, room: str) -> None:
        """Note a local member in ``room``; return once its partition is subscribed (or the wait timed out, logged)."""
        channel = self.partitions.of(room)
        self.rooms.setdefault(channel, set()).add((namespace, room))
        if channel in self._active:
            return  # no suspension: callers that enter rooms in one loop turn keep that property
        await self._sync(channel)

    def want_soon(self, namespace: str, room: str) -> None:
        """`want` without waiting, for the listener itself: it is the one that reads the confirmation."""
        channel = self.partitions.of(room)
        self.rooms.setdefault(channel, set()).add((namespace, room))
        if channel not in self._active:
            self._in_background(channel)

    def released(self, namespace: str, room: str) -> None:
        """``room`` has no local member any more: drop its partition when none of the partition's rooms has one."""
        channel = self.partitions.of(room)
        members = self.rooms.get(channel)
        if members is None:
            return
        members.discard((namespace, room))
        if not members:
            self._in_background(channel)

    def _in_background(self, channel: str) -> None:
        task = asyncio.get_running_loop().create_task(self._sync(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def confirmed(self, channel: str) -> None:
        """Redis confirmed a SUBSCRIBE of ``channel`` (called by the listener)."""
        self.confirmations[channel] = self.confirmations.get(channel, 0) + 1
        if channel not in self.partitions.names:
            return
        self._active.add(channel)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def lost(self) -> None:
        """The pub/sub connection is gone: nothing is subscribed until the listener subscribes `channels` again."""
        self.pubsub = None
        self._active.clear()

    async def close(self) -> None:
        """Cancel pending unsubscriptions."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.lost()

    async def _sync(self, channel: str) -> None:
        # Serialized: a leave's UNSUBSCRIBE and a join's SUBSCRIBE of the same partition are decided on the
        # state at the time they run, so the last one wins and a join never waits on a stale unsubscription.
        async with self._lock:
            wanted = bool(self.rooms.get(channel))
            if wanted and channel not in self._active:
                await self._subscribe(channel)
            elif not wanted and channel in self._active:
                self.rooms.pop(channel, None)
                self._active.discard(channel)
                await self._command("sunsubscribe" if self.sharded_commands else "unsubscribe", channel)

    async def _subscribe(self, channel: str) -> None:
        waiter = self._waiters.get(channel)
        if waiter is None or waiter.done():
            waiter = self._waiters[channel] = asyncio.get_running_loop().create_future()
        # Without a connection the listener subscribes `channels()` when it is back, which confirms this one.
        await self._command("ssubscribe" if self.sharded_commands else "subscribe", channel)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), WANT_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "Redis did not confirm the subscription to %r within %gs: a join goes ahead without it "
                "(messages of its rooms reach this process once the listener has subscribed again)",
                channel,
                WANT_TIMEOUT,
            )

    async def _command(self, name: str, channel: str) -> None:
        pubsub = self.pubsub
        if pubsub is None:
            return
        try:
            await getattr(pubsub, name)(channel)
        except Exception as exc:  # the listener sees the same failure, logs it and subscribes again
            logger.debug("%s %r failed: %s", name, channel, exc)
