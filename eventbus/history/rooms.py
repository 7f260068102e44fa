"""Per-room history: each room declared ``history=N`` keeps its last ``N`` events, each at an offset of an epoch.

`RoomHistory` is the store: `MemoryRoomHistory` here (one process), the Redis
one in ``eventbus.transport.room_streams``. A join that gives a position
(``since``) gets every event after it, or ``recovered: false`` and none: the
store answers with the events from ``since`` to its current position only when
all of them are still there and the epoch is the same.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from events.history import Publication, StreamPosition

if TYPE_CHECKING:
    from events import Room

__all__ = ["Catchup", "MemoryRoomHistory", "RoomHistory", "positions_arg"]


@dataclass(frozen=True, slots=True)
class Catchup:
    """What a join with ``since`` gets: the missed publications (when ``recovered``) and the room's position."""

    recovered: bool
    position: StreamPosition
    publications: list[Publication] = field(default_factory=list)


def positions_arg(positions: dict[str, StreamPosition]) -> dict[str, dict[str, Any]]:
    """The extra argument live events to history rooms carry: ``{room: {"offset": ..., "epoch": ...}}``."""
    return {room: position.model_dump() for room, position in positions.items()}


class RoomHistory(ABC):
    """Where the events of history rooms are kept (see the module docstring)."""

    def delivering(self, positions: dict[str, Any]) -> set[str]:
        """This process is about to deliver an event at ``positions`` (from Redis): the sids to skip."""
        return set()

    def hold(self, sid: str, room: str, position: StreamPosition) -> None:  # noqa: B027 - Redis only
        """``sid`` entered ``room`` and its join ack holds every event up to ``position``."""

    async def close(self) -> None:  # noqa: B027 - nothing to close in memory
        """Release connections."""

    @abstractmethod
    def seen(self, room: str) -> StreamPosition | None:
        """The position of the last event of ``room`` this process delivered (``None``: none since it started)."""

    @abstractmethod
    async def read(self, room: type[Room], name: str, after: int | None) -> tuple[StreamPosition, list[Publication]]:
        """The room's position and its events after offset ``after`` (none when ``None``), oldest first."""

    @abstractmethod
    async def last(self, room: type[Room], name: str, limit: int) -> tuple[StreamPosition, list[Publication]]:
        """The room's position and its last ``limit`` events, oldest first."""

    async def catch_up(self, room: type[Room], name: str, since: StreamPosition | None) -> Catchup:
        """The publications after ``since`` up to what this process delivered, or ``recovered`` false.

        Loops until no event of the room was delivered here while it read, so the caller can
        enter the room right after (without awaiting anything): every later event then reaches it live.
        """
        after = since.offset if since is not None else None
        publications: list[Publication] = []
        recovered = since is not None
        while True:
            position, found = await self.read(room, name, after)
            if since is not None and recovered:
                complete = position.epoch == since.epoch and position.offset >= (after or 0)
                complete = complete and len(found) == position.offset - (after or 0)
                recovered = complete
                publications = [*publications, *found] if complete else []
            seen = self.seen(name)
            if seen is None or seen.epoch != position.epoch or seen.offset <= position.offset:
                return Catchup(recovered, position, publications if recovered else [])
            after = position.offset


@dataclass(slots=True)
class _Stream:
    epoch: str
    size: int
    ttl: float
    expires: float
    top: int = 0
    events: deque[Publication] = field(default_factory=deque)


class MemoryRoomHistory(RoomHistory):
    """Ring buffers in this process: at most ``history`` events per room, dropped ``history_ttl`` after the last one.

    Memory is bounded by the rooms with an event in the last ``history_ttl`` seconds times
    their ``history`` (plus each event's payload, shared with nothing else).

    Example:
        >>> from events import Room
        >>> store = MemoryRoomHistory()
        >>> class NewsRoom(Room, prefix="news", history=2, public=True):
        ...     pass
        >>> [store.append(NewsRoom, "news", "headline", {"n": n}).offset for n in range(3)]
        [1, 2, 3]
    """

    def __init__(self) -> None:
        self._streams: OrderedDict[str, _Stream] = OrderedDict()  # oldest last event first

    def __repr__(self) -> str:
        return f"MemoryRoomHistory(rooms={len(self._streams)})"

    def _stream(self, room: type[Room], name: str, now: float) -> _Stream:
        while self._streams:
            oldest = next(iter(self._streams.values()))
            if oldest.expires > now:
                break
            self._streams.popitem(last=False)
        stream = self._streams.get(name)
        if stream is None:
            stream = _Stream(secrets.token_hex(4), room.history, room.history_ttl, now + room.history_ttl)
            stream.events = deque(maxlen=room.history)
            self._streams[name] = stream
        return stream

    def append(self, room: type[Room], name: str, event: str, data: Any) -> StreamPosition:
        """Keep one event of ``room`` (named ``name``) and return its position."""
        now = time.monotonic()
        stream = self._stream(room, name, now)
        stream.top += 1
        stream.events.append(Publication(event=event, data=data, offset=stream.top))
        stream.expires = now + stream.ttl
        self._streams.move_to_end(name)
        return StreamPosition(offset=stream.top, epoch=stream.epoch)

    def seen(self, room: str) -> StreamPosition | None:
        stream = self._streams.get(room)
        return None if stream is None else StreamPosition(offset=stream.top, epoch=stream.epoch)

    async def read(self, room: type[Room], name: str, after: int | None) -> tuple[StreamPosition, list[Publication]]:
        stream = self._stream(room, name, time.monotonic())
        position = StreamPosition(offset=stream.top, epoch=stream.epoch)
        if after is None or after >= stream.top:
            return position, []
        return position, [publication for publication in stream.events if publication.offset > after]

    async def last(self, room: type[Room], name: str, limit: int) -> tuple[StreamPosition, list[Publication]]:
        stream = self._stream(room, name, time.monotonic())
        events = list(stream.events)[-limit:]
        return StreamPosition(offset=stream.top, epoch=stream.epoch), events
