"""Recovery over several ordered channels (a Redis Cluster): what each socket was sent, and the replay's order.

On one Redis stream a client's last offset says what it has. On a cluster each
channel (a partition ``{channel}#n``, the control channel) has its own stream and
order, and the client still sends back one offset: the last packet it received.
`SentRing` keeps, per socket, the ``(channel, offset)`` of the packets it was sent,
in the order it was sent them; `resume_points` finds the client's offset in it and
gives, for every channel, the last packet of that channel the client had received
(the transport keeps the order, so it received every packet sent before its last
one). What comes after those points in each stream, for its rooms, is what it missed;
`merge` orders that replay.
"""

from __future__ import annotations

import heapq
from abc import abstractmethod
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from eventbus.history.recovery import Entry, RecoveryLog, compare, later

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["ChannelRecoveryLog", "Sent", "SentRing", "Start", "earliest", "merge", "resume_points"]

DEFAULT_RING = 1000
"""Packets remembered per connection (at most ``recovery_max_packets``): a client whose transport lost more of the
packets sent to it when it dropped is not recovered. About 8 bytes each in memory, 40 in its saved session."""


class Sent(NamedTuple):
    """One packet sent to a socket (or one it was spared as another part of a send it got: ``split``)."""

    channel: str
    offset: str
    split: str | None = None


class Start(NamedTuple):
    """Where a reconnect resumes: per channel, the offset after which the client has nothing; the split sends it has."""

    after: dict[str, str]
    splits: frozenset[str]


class SentRing:
    """The last ``size`` packets sent to one socket, oldest first, and what the dropped older ones leave to know.

    ``floor`` keeps, per channel, the last packet dropped from the ring (the client had it once it had any later
    one); ``gone`` the split ids of the last ``size`` dropped parts, so the other parts of those sends are not
    replayed (the parts of a send reach a process back to back, far fewer than ``size`` packets apart).
    A `Sent` is shared by every socket the packet went to, so an entry costs one pointer per socket.

    Example:
        >>> ring = SentRing(2)
        >>> for n in range(3):
        ...     ring.add(Sent("app#1", f"e1:{n}-0"))
        >>> [sent.offset for sent in ring.packets], ring.floor
        (['e1:1-0', 'e1:2-0'], {'app#1': 'e1:0-0'})
    """

    __slots__ = ("floor", "gone", "packets")

    def __init__(self, size: int) -> None:
        self.packets: deque[Sent] = deque(maxlen=size)
        self.floor: dict[str, str] = {}
        self.gone: deque[str] = deque(maxlen=size)

    def add(self, sent: Sent) -> None:
        """Note a packet sent to the socket (the oldest one goes when the ring is full)."""
        if len(self.packets) == self.packets.maxlen:
            dropped = self.packets[0]
            self.floor[dropped.channel] = dropped.offset
            if dropped.split is not None:
                self.gone.append(dropped.split)
        self.packets.append(sent)


def resume_points(
    sent: Sequence[Sent], base: dict[str, str], offset: str | None, *, floor: dict[str, str], gone: Iterable[str] = ()
) -> Start | None:
    """Per channel, the offset after which the client missed everything; ``None`` when that cannot be known.

    ``sent`` is the session's ring (with its ``floor`` and ``gone``, see `SentRing`), ``base`` the position of each
    channel when the session began (or entered the channel's first room), ``offset`` the one the client presented.
    Found in the ring (its last occurrence): each channel resumes after its last packet up to there, or after its
    floor, or at its base. Not found: when the ring lost none of its packets the client received none of this
    session's, so every channel resumes at its base; when it did lose some, the client's place is unknown and
    nothing may be replayed as if whole.

    Example:
        >>> ring = [Sent("a", "x:5-0"), Sent("b", "y:7-0"), Sent("a", "x:9-0")]
        >>> resume_points(ring, {"a": "x:1-0", "b": "y:1-0"}, "y:7-0", floor={}).after
        {'a': 'x:5-0', 'b': 'y:7-0'}
        >>> resume_points(ring, {"a": "x:1-0", "b": "y:1-0"}, "z:3-0", floor={"a": "x:4-0"}) is None
        True
    """
    found = _last_index(sent, offset) if offset else None
    if found is None:
        return None if floor else Start(dict(base), frozenset())
    after, splits = {**base, **floor}, set(gone)
    for packet in sent[: found + 1]:
        after[packet.channel] = packet.offset  # the ring is in delivery order, each channel's order
        if packet.split is not None:
            splits.add(packet.split)
    return Start(after, frozenset(splits))


def _last_index(sent: Sequence[Sent], offset: str) -> int | None:
    for index in range(len(sent) - 1, -1, -1):
        if sent[index].offset == offset:
            return index
    return None


def merge(streams: Iterable[Sequence[Entry]], splits: Iterable[str] = ()) -> list[Entry]:
    """One replay from each channel's missed entries: each channel's own order kept, the channels interleaved.

    Channels are interleaved by stream id (the publishing master's clock, so roughly by publish time; ties by
    channel): only each channel's order is guaranteed, as it is live. A send split over channels is replayed
    once (its first part), and not at all when the client has a part of it (``splits``).

    Example:
        >>> a = [Entry("x:5-0", "/", "m", [1], ["r"], channel="a"), Entry("x:9-0", "/", "m", [3], ["r"], channel="a")]
        >>> b = [Entry("y:7-0", "/", "m", [2], ["s"], channel="b")]
        >>> [entry.args[0] for entry in merge([a, b])]
        [1, 2, 3]
    """
    done = set(splits)
    replay: list[Entry] = []
    for entry in heapq.merge(*streams, key=_order):
        if entry.split is not None:
            if entry.split in done:
                continue
            done.add(entry.split)
        replay.append(entry)
    return replay


def _order(entry: Entry) -> tuple[int, int, str]:
    ms, _, seq = entry.offset.partition(":")[2].partition("-")
    return int(ms or 0), int(seq or 0), entry.channel


def earliest(offsets: Iterable[str]) -> str:
    """The earliest of offsets of one channel; ``""`` when one is unknown (a reconnect from there is not recovered).

    Example:
        >>> earliest(["x:9-0", "x:5-0"]), earliest(["x:9-0", ""])
        ('x:5-0', '')
    """
    result: str | None = None
    for offset in offsets:
        if not offset:
            return ""
        if result is None or compare(offset, result) == -1:
            result = offset
    return result or ""


class ChannelRecoveryLog(RecoveryLog):
    """A recovery log with one ordered stream per channel (see the module docstring); the cluster's is in Redis.

    It keeps a `SentRing` per live connection (`attach`, filled by the manager's `sent`) and this process's
    position in each channel it delivers (`seen`): a connection entering a room is owed the packets of the
    room's channel after that channel's position (`position_for`).
    """

    control: str
    ring_size: int = DEFAULT_RING

    def __init__(self) -> None:
        self.heads: dict[str, str] = {}
        self.rings: dict[str, SentRing] = {}

    @property
    def position(self) -> str:
        return self.heads.get(self.control, "")

    def position_for(self, room: str) -> str:
        return self.heads.get(self.channel_of(room), "")

    def seen(self, offset: str, channel: str = "") -> None:
        known = self.heads.get(channel)
        self.heads[channel] = later(known, offset) if known else offset

    def forget(self, channel: str) -> None:
        """No local connection is in a room of ``channel`` any more: its position is found again when one is."""
        if channel != self.control:
            self.heads.pop(channel, None)

    def attach(self, sid: str) -> SentRing:
        """Start remembering what ``sid`` is sent."""
        ring = self.rings[sid] = SentRing(self.ring_size)
        return ring

    def detach(self, sid: str) -> SentRing | None:
        """Stop remembering what ``sid`` is sent; what it was sent."""
        return self.rings.pop(sid, None)

    def sent(self, sids: Iterable[str], packet: Sent) -> None:
        """``packet`` went to ``sids`` (those this log remembers for)."""
        rings = self.rings
        for sid in sids:
            ring = rings.get(sid)
            if ring is not None:
                ring.add(packet)

    @abstractmethod
    def channel_of(self, room: str) -> str:
        """The channel the packets of ``room`` are published on."""

    @abstractmethod
    async def settle(self, channels: Iterable[str]) -> None:
        """Make this process's position in each of ``channels`` (subscribed) exact: every packet up to it handled."""

    @abstractmethod
    async def read_channels(self, after: dict[str, str], upto: dict[str, str]) -> dict[str, list[Entry]] | None:
        """Per channel, its packets after ``after[channel]`` up to ``upto[channel]``; ``None`` when any is gone."""

    async def read(self, after: str, upto: str) -> list[Entry] | None:
        found = await self.read_channels({self.control: after}, {self.control: upto})
        return None if found is None else found.get(self.control, [])
