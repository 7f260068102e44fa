"""Per-room history on Redis: a stream and a meta hash per room, written by `eventbus.transport.publishing`.

Keys: ``{channel}:history:{app}:{room}:stream`` (entry ids ``{offset}-0``, each
holding the pub/sub message as published, signed when the channel is) and
``...:meta`` (``e``: the epoch, ``s``: the last offset), both expiring
``history_ttl`` after the last event. A stream whose meta is gone starts over
at offset 1 under a new epoch, so a position from before is never taken for a
position in it. On a Redis Cluster the keys carry the room's partition channel
as hash tag, ``{channel}:history:{{channel}#{n}}:{app}:{room}:stream``, so they
sit in the slot of the channel the room's messages are SPUBLISHed on.

A joining connection enters its room right after reading the history, up to
the position this process last delivered; an event published before that
read but delivered here after the enter would reach it twice, live and in the
ack, so `RedisRoomHistory.hold` keeps it from the live copy (see `skip_for`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from eventbus.history.recovery import new_epoch
from eventbus.history.rooms import MemoryRoomHistory, RoomHistory
from eventbus.transport.recovery import CONCURRENCY
from eventbus.transport.redis_manager import RedisManager
from events.history import Publication, StreamPosition

if TYPE_CHECKING:
    import socketio

    from events import Room

__all__ = ["RedisRoomHistory", "room_history_for"]

SEEN_IDLE = 60.0


def room_history_for(manager: socketio.AsyncManager | None, namespace: str) -> RoomHistory:
    """The history store of application ``namespace``: in the manager's Redis, else in memory."""
    if not isinstance(manager, RedisManager):
        return MemoryRoomHistory()
    history = RedisRoomHistory(manager, namespace)
    manager.histories[namespace] = history
    return history


# KEYS: stream, meta. ARGV: epoch candidate, ttl ms, 'after' or 'last', offset ('' for none) or count.
_READ = """
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 's', 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
local top = redis.call('HGET', KEYS[2], 's')
local entries = {}
if ARGV[3] == 'last' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[4])
elseif ARGV[4] ~= '' then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[4] .. '-0', '+')
end
return {epoch, top, entries}
"""


class RedisRoomHistory(RoomHistory):
    """The history rooms of every process sharing a Redis channel (see the module docstring)."""

    def __init__(self, manager: RedisManager, namespace: str = "/") -> None:
        self.manager = manager
        self.namespace = namespace
        self._redis: Any = None
        self._seen: OrderedDict[str, tuple[str, int, float]] = OrderedDict()  # room -> epoch, offset, when
        self._held: dict[str, dict[str, StreamPosition]] = {}  # room -> sid -> position it got in its join ack
        self.slots = asyncio.Semaphore(CONCURRENCY)  # calls at once on client(): see recovery.CONCURRENCY

    def __repr__(self) -> str:
        return f"RedisRoomHistory({self.manager.safe_url!r}, channel={self.manager.channel!r}, app={self.namespace!r})"

    def client(self) -> Any:
        """This store's Redis connection (opened at first use)."""
        if self._redis is None:
            self._redis = self.manager.new_client()
        return self._redis

    async def close(self) -> None:
        """Close the connection."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def keys(self, room: str) -> list[str]:
        """The stream and meta keys of ``room``; on a cluster in the slot of the room's partition channel."""
        partitions = self.manager.partitions
        # The hash tag (the first {...} of a key) is the partition channel: SPUBLISH hashes a channel like a key,
        # so the publish script writes the room's keys and publishes its message on one master, atomically.
        tag = f"{{{partitions.of(room)}}}:" if self.manager.cluster and partitions is not None else ""
        base = f"{self.manager.channel}:history:{tag}{self.namespace}:{room}"
        return [f"{base}:stream", f"{base}:meta"]

    def seen(self, room: str) -> StreamPosition | None:
        found = self._seen.get(room)
        return None if found is None else StreamPosition(offset=found[1], epoch=found[0])

    def delivering(self, positions: dict[str, Any]) -> set[str]:
        """The listener is about to deliver an event at ``positions``: record them; the sids not to deliver it to."""
        skip: set[str] = set()
        now = time.monotonic()
        for room, raw in positions.items():
            epoch, offset = str(raw["epoch"]), int(raw["offset"])
            self._seen[room] = (epoch, offset, now)
            self._seen.move_to_end(room)
            held = self._held.get(room)
            if not held:
                continue
            for sid, upto in list(held.items()):
                if upto.epoch == epoch and offset <= upto.offset:
                    skip.add(sid)  # already in its join ack
                else:
                    del held[sid]  # events come in offset order: nothing older will follow
            if not held:
                del self._held[room]
        # A room idle for a minute is forgotten: a join reading its history meanwhile (milliseconds) would have seen
        # any event delivered during the read come in here, so an absent room means none came.
        while self._seen and next(iter(self._seen.values()))[2] < now - SEEN_IDLE:
            self._seen.popitem(last=False)
        return skip

    def hold(self, sid: str, room: str, position: StreamPosition) -> None:
        """``sid`` entered ``room`` with its ack holding every event up to ``position``: skip their live copies."""
        self._held.setdefault(room, {})[sid] = position

    async def read(self, room: type[Room], name: str, after: int | None) -> tuple[StreamPosition, list[Publication]]:
        return await self._run(room, name, "after", "" if after is None else str(after))

    async def last(self, room: type[Room], name: str, limit: int) -> tuple[StreamPosition, list[Publication]]:
        position, publications = await self._run(room, name, "last", str(limit))
        return position, publications[::-1]

    async def _run(self, room: type[Room], name: str, mode: str, arg: str) -> tuple[StreamPosition, list[Publication]]:
        ttl = str(max(1, int(room.history_ttl * 1000)))
        keys = self.keys(name)
        async with self.slots:
            epoch, top, entries = await self.client().eval(_READ, 2, *keys, new_epoch(), ttl, mode, arg)
        position = StreamPosition(offset=int(top), epoch=epoch.decode())
        publications = [p for p in (self._publication(entry_id, fields) for entry_id, fields in entries) if p]
        return position, publications

    def _publication(self, entry_id: bytes, fields: list[bytes]) -> Publication | None:
        values = dict(zip(fields[::2], fields[1::2], strict=True))
        message = self.manager._decode(values.get(b"m", b""), fresh=False)
        if message is None:
            return None
        args = message.get("data")
        args = list(args) if isinstance(args, list) else [args]
        return Publication(
            event=str(message.get("event")),
            data=args[0] if len(args) == 1 else args,
            offset=int(entry_id.split(b"-")[0]),
        )
