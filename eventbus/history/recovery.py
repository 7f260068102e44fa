"""The packet log and sessions behind connection state recovery (Socket.IO 4.6+'s ``connectionStateRecovery``).

Every recoverable packet (an event sent by the bus: no ack, so nothing that
cannot be replayed) gets an offset, ``"{epoch}:{sequence}"``, which reaches the
client as the packet's last argument; socket.io-client keeps the last one it saw
and presents it with its private session id (``pid``) when it reconnects. The
log keeps the packets of the last ``recovery_window`` seconds so the missed ones
can be sent again. The epoch changes whenever the log was lost (a restart in
memory, a flushed Redis): an offset of another epoch is never recovered from,
so a client gets every missed packet or is told it got none (``recovered``
false), never part of them.

`MemoryRecoveryLog` serves one process; the Redis log (``eventbus.transport.recovery``)
keeps one stream per channel, so a client can come back on any process.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Entry", "MemoryRecoveryLog", "RecoveryLog", "Session", "compare", "new_epoch", "replayable"]


def new_epoch() -> str:
    """A random epoch: short, and free of the ``:`` and space that delimit offsets."""
    return secrets.token_hex(4)


def _sequence(offset: str) -> tuple[str, tuple[int, ...]] | None:
    epoch, sep, rest = offset.partition(":")
    if not sep or not epoch:
        return None
    try:
        return epoch, tuple(int(part) for part in rest.split("-"))
    except ValueError:
        return None


def compare(a: str, b: str) -> int | None:
    """-1, 0 or 1 as offset ``a`` is before, at or after ``b``; ``None`` when they are of different epochs (or junk).

    Example:
        >>> compare("e1:5", "e1:12"), compare("e1:1700000000000-1", "e1:1700000000000-0"), compare("e1:5", "e2:5")
        (-1, 1, None)
    """
    left, right = _sequence(a), _sequence(b)
    if left is None or right is None or left[0] != right[0]:
        return None
    return (left[1] > right[1]) - (left[1] < right[1])


def later(a: str, b: str) -> str:
    """The later of two offsets of the same epoch (``b`` when they are not comparable)."""
    return a if compare(a, b) == 1 else b


@dataclass(frozen=True, slots=True)
class Entry:
    """One logged packet: what a socket that missed it needs to receive it again, and who it was for."""

    offset: str
    namespace: str
    event: str
    args: list[Any]
    rooms: list[str] | None  # None: every socket of the namespace
    skip: list[str] | None = None  # sids excluded with ``exclude=``
    channel: str = ""  # on a cluster, the channel whose stream holds it
    split: str | None = None  # on a cluster, the id shared by the parts of a send split over channels

    def packet_data(self) -> list[Any]:
        """The Socket.IO EVENT packet's data: name, arguments, then the offset (as socket.io does)."""
        return [self.event, *self.args, self.offset]


@dataclass(slots=True)
class Session:
    """What a dropped connection leaves behind for the window: enough to put a new one in its place.

    ``rooms`` maps each room (its own sid room included) to the offset at which it
    entered it: a packet is replayed only for a room entered before it was sent.
    ``start`` is the offset at which the connection began (restored: where its replay began, so a client that lost
    part of the replay resumes after the last packet it got).
    """

    pid: str
    sid: str
    namespace: str
    user_id: str | None
    start: str
    rooms: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)
    """On a cluster: the (channel, offset, split) of the last packets the connection was sent, and what the older
    ones left: the last dropped per channel (``floor``) and the split ids dropped (``gone``); see `SentRing`."""
    floor: dict[str, str] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    former: list[str] = field(default_factory=list)
    """The sids of the connections this one replaced, oldest first: a packet that excluded or targeted one of them
    is judged as if it named this one (a restored session starts where its replay did, before the new sid)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, for Redis."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        """The session back from `to_json`."""
        return cls(
            pid=str(data["pid"]),
            sid=str(data["sid"]),
            namespace=str(data["namespace"]),
            user_id=None if data.get("user_id") is None else str(data["user_id"]),
            start=str(data["start"]),
            rooms={str(k): str(v) for k, v in dict(data.get("rooms") or {}).items()},
            sent=[(str(c), str(o), None if s is None else str(s)) for c, o, s in data.get("sent") or []],
            floor={str(k): str(v) for k, v in dict(data.get("floor") or {}).items()},
            gone=[str(split) for split in data.get("gone") or []],
            former=[str(sid) for sid in data.get("former") or []],
        )


def replayable(entry: Entry, session: Session) -> bool:
    """Whether ``entry``, logged while ``session``'s connection was away, is one it must receive.

    As socket.io's ``shouldIncludePacket``: addressed to one of its rooms (or to
    everyone) and not excluded; besides, only for a room it was in when the packet was sent.
    The sids it replaced (``former``) count as its own, as socket.io keeps one sid across recoveries.
    """
    own = {session.sid, *session.former}
    if entry.namespace != session.namespace or (entry.skip and not own.isdisjoint(entry.skip)):
        return False
    rooms = [session.sid] if entry.rooms is None else [session.sid if room in own else room for room in entry.rooms]
    return any(room in session.rooms and compare(entry.offset, session.rooms[room]) == 1 for room in rooms)


class RecoveryLog(ABC):
    """Where recoverable packets and dropped connections' sessions are kept for ``window`` seconds."""

    window: float

    @property
    @abstractmethod
    def position(self) -> str:
        """The offset of the last packet this process handed to its sockets: where a new connection starts."""

    def position_for(self, room: str) -> str:
        """Where a connection entering ``room`` now starts being owed its packets (`position` but on a cluster)."""
        return self.position

    def seen(self, offset: str, channel: str = "") -> None:  # noqa: B027 - a hook only the Redis logs need
        """This process is about to deliver the packet at ``offset`` (from Redis): new connections start after it."""

    @abstractmethod
    async def read(self, after: str, upto: str) -> list[Entry] | None:
        """The packets after ``after`` up to ``upto`` included, in order; ``None`` when any of them is gone."""

    @abstractmethod
    async def save(self, session: Session) -> None:
        """Keep ``session`` for ``window`` seconds."""

    @abstractmethod
    async def take(self, pid: str) -> Session | None:
        """The session of ``pid``, removed (a session is restored once); ``None`` when unknown or expired."""

    async def start(self) -> None:  # noqa: B027 - nothing to do in memory
        """Connect and find the current position (nothing to do in memory)."""

    async def tail(self) -> str:
        """The offset of the last packet logged by any process (this process's `position` in memory)."""
        return self.position

    async def stop(self) -> None:  # noqa: B027 - nothing to do in memory
        """Release connections (nothing to do in memory)."""


class MemoryRecoveryLog(RecoveryLog):
    """The log of one process: a ring of the last ``max_packets`` packets, none older than ``window`` seconds.

    Example:
        >>> log = MemoryRecoveryLog(window=120)
        >>> first = log.append("/", "message", [{"text": "hi"}], ["chat:42"])
        >>> log.position == first
        True
    """

    def __init__(self, window: float, *, max_packets: int = 100_000) -> None:
        self.window = window
        self.max_packets = max_packets
        self.epoch = new_epoch()
        self._packets: deque[tuple[float, Entry]] = deque()
        self._next = 1  # the sequence number of the next packet; packet n sits at index n - first
        self._sessions: dict[str, tuple[float, Session]] = {}

    def __repr__(self) -> str:
        return (
            f"MemoryRecoveryLog(window={self.window:g}, packets={len(self._packets)}, sessions={len(self._sessions)})"
        )

    @property
    def position(self) -> str:
        return f"{self.epoch}:{self._next - 1}"

    def append(
        self, namespace: str, event: str, args: list[Any], rooms: list[str] | None, skip: list[str] | None = None
    ) -> str:
        """Log one packet and return its offset."""
        now = time.monotonic()
        offset = f"{self.epoch}:{self._next}"
        self._next += 1
        self._packets.append((now, Entry(offset, namespace, event, args, rooms, skip)))
        horizon = now - self.window
        while self._packets and (len(self._packets) > self.max_packets or self._packets[0][0] < horizon):
            self._packets.popleft()
        return offset

    async def read(self, after: str, upto: str) -> list[Entry] | None:
        start, end = _sequence(after), _sequence(upto)
        if start is None or end is None or start[0] != self.epoch or end[0] != self.epoch:
            return None
        first = self._next - len(self._packets)  # sequence number of the oldest packet kept
        if start[1][0] + 1 < first:
            return None  # some of the missed packets were dropped from the ring
        begin = start[1][0] + 1 - first
        stop = min(end[1][0] + 1 - first, len(self._packets))
        return [self._packets[i][1] for i in range(begin, stop)]

    async def save(self, session: Session) -> None:
        now = time.monotonic()
        for pid in [pid for pid, (expires, _) in self._sessions.items() if expires < now]:
            del self._sessions[pid]
        self._sessions[session.pid] = (now + self.window, session)

    async def take(self, pid: str) -> Session | None:
        kept = self._sessions.pop(pid, None)
        if kept is None or kept[0] < time.monotonic():
            return None
        return kept[1]
