"""Room-sharded pub/sub: a room's messages go to one of a bounded number of partition channels, or to its own.

With ``EVENTBUS_REDIS_SHARDING`` off, every process subscribes to the one channel
(``EVENTBUS_REDIS_CHANNEL``) and receives every message of the deployment. With it on,
an emit to a single room is published on ``{channel}#{n}``, ``n`` the room name's
CRC-32 modulo ``EVENTBUS_REDIS_PARTITIONS``, and a process subscribes to a partition
only while it holds a socket in one of that partition's rooms (socket.io's redis adapter
calls this the "dynamic" subscription mode of its sharded adapter). What must reach every
process stays on the channel itself, the control channel: emits to all sockets, to
several rooms at once (each socket once, which two partitions could not promise), to a
socket id, or with an ack callback; room moves; disconnects.

Rooms that are sharded are the bus's named rooms (``prefix:key``); a name without ``:``
is a socket id or a raw python-socketio room and takes the control channel, so that a
process is not subscribed to every partition by its sockets' own rooms.

Dedicated rooms: a room whose prefix is in ``EVENTBUS_REDIS_DEDICATED_ROOMS`` (``user``
by default) gets a channel of its own, ``{channel}#{room}`` (socket.io's "dynamic-private"
mode). Every connection is in its ``user:`` room, so with a few thousand users per process
their partitions would cover all of them and each process would receive nearly every message;
on their own channels a process receives only its users' messages. A dedicated channel is an
ordinary channel everywhere else: on a cluster its name, which has no braces, is its own hash
slot key, so keys tagged ``{eventbus#user:42}`` sit in its slot (a room name with a brace
would move the tag: such a room keeps its partition).

Subscribe before the ack: `Subscriptions.want` returns only once Redis has confirmed
the channel's SUBSCRIBE (the reply comes after every PUBLISH Redis handled before it,
and before every later one), and the manager enters the room after that, so a message
published after the join's ack, or after the connect's ack for the ``user:`` room, is always
received. A channel is unsubscribed when its last local room empties; a message still in
flight then finds no member and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 64
DEFAULT_DEDICATED = ("user",)
"""Room prefixes with a channel of their own (``EVENTBUS_REDIS_DEDICATED_ROOMS``): every connection's ``user:`` room."""
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
    """The channel of each message: a sharded room's partition or dedicated channel, or the control channel.

    Example:
        >>> partitions = Partitions("app", 4, dedicated=["user"])
        >>> partitions.of("chat:1"), partitions.of("user:42"), partitions.owns("app#user:42")
        ('app#2', 'app#user:42', True)
    """

    def __init__(self, channel: str, count: int, dedicated: Iterable[str] = DEFAULT_DEDICATED) -> None:
        if count < 1:
            raise ValueError(f"Redis partitions must be a number >= 1 (got {count!r})")
        self.channel = channel
        self.count = count
        self.dedicated = frozenset(dedicated)
        self.names = [f"{channel}#{n}" for n in range(count)]
        self._own = f"{channel}#"

    def of(self, room: str) -> str:
        """The channel of ``room``, the same on every process: its own when dedicated, else its partition (CRC-32)."""
        if room.partition(":")[0] in self.dedicated and "{" not in room and "}" not in room:
            return self._own + room
        return self.names[zlib.crc32(room.encode()) % self.count]

    def owns(self, channel: str) -> bool:
        """Whether ``channel`` is one of this channel's partitions or dedicated channels (not the control channel)."""
        return channel.startswith(self._own)

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
            parts.setdefault(self.channel_of(room), []).append(room)
        return parts

    def channel_of(self, room: str) -> str:
        """The channel a send to ``room`` alone is published on: `of` for a sharded room, else the control channel."""
        return self.of(room) if is_sharded_room(room) else self.channel

    def channel_for(self, message: dict[str, Any]) -> str:
        """Where ``message`` is published."""
        room = self.room_of(message)
        return self.channel if room is None else self.of(room)


class Subscriptions:
    """Which partition and dedicated channels this process listens to: those of the rooms it has local members in.

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
        """The last SUBSCRIBE confirmation of each channel (the control channel's too), an id never reused in this
        process: a new one starts a new subscription. Dropped with the channel: users' channels come and go."""
        self._confirmation_ids = itertools.count(1)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> frozenset[str]:
        """The channels Redis has confirmed and not been told to drop."""
        return frozenset(self._active)

    def channels(self) -> list[str]:
        """Every channel to subscribe to on a (new) connection: the control channel and the wanted ones."""
        return [self.partitions.channel, *sorted(ch for ch, rooms in self.rooms.items() if rooms)]

    async def want(self, namespace: str, room: str) -> None:
        """Note a local member in ``room``; return once its channel is subscribed (or the wait timed out, logged)."""
        channel = self.partitions.of(room)
        self.rooms.setdefault(channel, set()).add((namespace, room))
        if channel in self._active:
            return  # no suspension: callers that enter rooms in one loop turn keep that property
        waiter = await self._sync(channel)
        if waiter is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), WANT_TIMEOUT)
        except TimeoutError:
            if self._waiters.get(channel) is waiter:
                del self._waiters[channel]
            logger.warning(
                "Redis did not confirm the subscription to %r within %gs: a join goes ahead without it "
                "(messages of its rooms reach this process once the listener has subscribed again)",
                channel,
                WANT_TIMEOUT,
            )

    def want_soon(self, namespace: str, room: str) -> None:
        """`want` without waiting, for the listener itself: it is the one that reads the confirmation."""
        channel = self.partitions.of(room)
        self.rooms.setdefault(channel, set()).add((namespace, room))
        if channel not in self._active:
            self._in_background(channel)

    def wants(self, channel: str) -> bool:
        """Whether ``channel`` is the control channel or has a local member in one of its rooms."""
        return channel == self.partitions.channel or bool(self.rooms.get(channel))

    def released(self, namespace: str, room: str) -> str | None:
        """``room`` has no local member any more: drop its channel when none of the channel's rooms has one.

        Returns that channel when it is dropped, so what is kept per channel goes with it (users' channels come
        and go: one per user ever connected otherwise).
        """
        channel = self.partitions.of(room)
        members = self.rooms.get(channel)
        if members is None:
            return None
        members.discard((namespace, room))
        if members:
            return None
        self._in_background(channel)
        return channel

    def _in_background(self, channel: str) -> None:
        task = asyncio.get_running_loop().create_task(self._synced(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def confirmed(self, channel: str) -> None:
        """Redis confirmed a SUBSCRIBE of ``channel`` (called by the listener)."""
        self.confirmations[channel] = next(self._confirmation_ids)
        if not self.partitions.owns(channel):
            return
        self._active.add(channel)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self.rooms.get(channel):
            self._in_background(channel)  # its last room emptied while the SUBSCRIBE was on its way

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

    async def _synced(self, channel: str) -> None:
        await self._sync(channel)

    async def _sync(self, channel: str) -> asyncio.Future[None] | None:
        """Subscribe or unsubscribe ``channel`` as its rooms now need; the confirmation to wait for, if subscribing."""
        # Serialized: a leave's UNSUBSCRIBE and a join's SUBSCRIBE of the same channel are decided on the state at
        # the time they run and reach Redis in that order, so the last one wins and a join never waits on a stale
        # unsubscription. The lock covers sending only, not Redis's reply: the connects of many users, each with its
        # own channel, wait for their confirmations together instead of one round trip after the other.
        async with self._lock:
            if self.rooms.get(channel):
                if channel in self._active:
                    return None
                waiter = self._waiters.get(channel)
                if waiter is None or waiter.done():
                    waiter = self._waiters[channel] = asyncio.get_running_loop().create_future()
                # Sent even when one is on its way (it may have been lost): Redis confirms each, the first suffices.
                # Without a connection the listener subscribes `channels()` when it is back, which confirms this one.
                await self._command("ssubscribe" if self.sharded_commands else "subscribe", channel)
                return waiter
            self.rooms.pop(channel, None)
            self.confirmations.pop(channel, None)
            if channel in self._active:
                self._active.discard(channel)
                await self._command("sunsubscribe" if self.sharded_commands else "unsubscribe", channel)
            return None

    async def _command(self, name: str, channel: str) -> None:
        pubsub = self.pubsub
        if pubsub is None:
            return
        try:
            await getattr(pubsub, name)(channel)
        except Exception as exc:  # the listener sees the same failure, logs it and subscribes again
            logger.debug("%s %r failed: %s", name, channel, exc)
