"""Connection state recovery on a Redis Cluster: one recovery stream per channel, in the channel's own slot.

A cluster has no single order over the deployment: each channel (a partition
``{channel}#n`` or another channel `Partitions` gives a room, and the control
channel) is SPUBLISHed on the master of its slot. So each channel gets its own
stream, epoch and cut, tagged with the channel's name,
``{channel}:recovery:{<that channel>}:stream`` (``:epoch``, ``:cut``), and the
publish script (`eventbus.transport.publishing`) XADDs to it and SPUBLISHes the
message with its offset in one atomic step: each channel has one total order, the
same in its stream and on the wire. An offset is ``{epoch}:{stream id}`` of its
channel's stream; the epoch is drawn per channel, so offsets of two channels never
compare. Which packets a client had is found from the ring of what it was sent
(`eventbus.history.channels`), saved with its session; sessions are keys of their
own, ``{channel}:recovery:session:{pid}``, spread over the masters.

Everything is keyed by the channel string, never by a partition number, so a
room with a channel of its own gets recovery as it is. A channel's stream and
cut expire ``2 x window + 60 s`` after its last packet, so idle channels cost
nothing; its epoch lives a day longer, so an idle channel's positions stay
valid (a stream gone under a known epoch held nothing for longer than any
session lives: nothing was missed there).

A gap in the subscription (a lost connection, a failover) is caught up channel by
channel (`catch_up`): what each subscribed channel's stream holds after this
process's position in it is delivered before anything newer of that channel.
When a stream no longer covers the gap, the process's connections are ended with
``session_ended`` ``redis_gap``, as on one Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from eventbus.history.channels import ChannelRecoveryLog
from eventbus.history.recovery import Entry, MemoryRecoveryLog, RecoveryLog, new_epoch
from eventbus.observability.logfields import library_logger
from eventbus.transport.recovery import RedisRecoveryLog
from eventbus.transport.redis_manager import RedisManager

if TYPE_CHECKING:
    from collections.abc import Iterable

    import socketio

    from eventbus.settings import EventBusSettings

__all__ = ["ClusterRecoveryLog", "recovery_log_for"]

logger = library_logger(__name__)

EPOCH_TTL = 86_400.0
"""Seconds an idle channel's epoch outlives its stream: its connections' positions stay comparable meanwhile."""

# KEYS: stream, epoch. ARGV: epoch candidate, epoch ttl ms. Returns {epoch, the stream's last id or '0-0'}.
_TAIL = """
redis.call('SET', KEYS[2], ARGV[1], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {redis.call('GET', KEYS[2]), last[1] and last[1][1] or '0-0'}
"""


class ClusterRecoveryLog(ChannelRecoveryLog, RedisRecoveryLog):
    """The packet logs (one per channel) and sessions of every process sharing a Redis Cluster channel."""

    def __init__(self, manager: RedisManager, *, window: float, max_packets: int = 100_000) -> None:
        RedisRecoveryLog.__init__(self, manager, window=window, max_packets=max_packets)
        ChannelRecoveryLog.__init__(self)
        self.control = manager.channel
        self.ring_size = min(self.ring_size, max_packets)
        self.stream_key, self.epoch_key, self.cut_key = self.keys(manager.channel)
        self.session_prefix = f"{manager.channel}:recovery:session:"
        self.stream_ttl = 2 * window + 60
        self._settled: dict[str, int] = {}  # channel -> the subscription (confirmation count) its head is exact for

    def __repr__(self) -> str:
        return f"ClusterRecoveryLog({self.manager.safe_url!r}, channels={len(self.heads)}, window={self.window:g})"

    def keys(self, channel: str) -> tuple[str, str, str]:
        """The stream, epoch and cut keys of ``channel``: in its slot (the hash tag is the channel's name)."""
        prefix = f"{self.manager.channel}:recovery:{{{channel}}}"
        return f"{prefix}:stream", f"{prefix}:epoch", f"{prefix}:cut"

    def ttls(self) -> tuple[str, str]:
        """The stream's and the epoch's expiry in ms, as the publish script takes them."""
        return str(int(self.stream_ttl * 1000)), str(int((self.stream_ttl + EPOCH_TTL) * 1000))

    def channel_of(self, room: str) -> str:
        partitions = self.manager.partitions
        return partitions.channel_of(room) if partitions is not None else self.control

    def seen(self, offset: str, channel: str = "") -> None:
        # A packet still in flight on a channel being unsubscribed is owed to no one here: keeping its position
        # would keep one entry per user ever connected. The next subscription settles the position afresh.
        subscriptions = self.manager.subscriptions
        if subscriptions is None or subscriptions.wants(channel):
            super().seen(offset, channel)

    def forget(self, channel: str) -> None:
        super().forget(channel)
        self._settled.pop(channel, None)

    async def start(self) -> None:
        """Nothing to read now: each channel's position is found when a connection first needs it (`settle`)."""

    async def tail(self) -> str:
        return await self._tail(self.control)

    async def _tail(self, channel: str) -> str:
        stream, epoch_key, _ = self.keys(channel)
        async with self._slots:
            epoch, last = await self._client().eval(_TAIL, 2, stream, epoch_key, new_epoch(), self.ttls()[1])
        return f"{epoch.decode()}:{last.decode()}"

    async def settle(self, channels: Iterable[str]) -> None:
        subscriptions = self.manager.subscriptions
        confirmations = subscriptions.confirmations if subscriptions is not None else {}
        for channel in dict.fromkeys(channels):
            current = confirmations.get(channel)
            if current is not None and self._settled.get(channel) == current:
                continue  # no await: a restore enters its rooms right after, with no packet slipping past
            # Every packet up to the tail was published before the fence, so it has been through the listener
            # (delivered or not for us) once the fence is back: the later of tail and head is then exact.
            tail = await self._tail(channel)
            try:
                await self.manager.fence_channel(channel)
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("no fence back on Redis channel %r (%s): a connection goes ahead", channel, exc)
                continue
            self.seen(tail, channel)
            if current is not None:
                self._settled[channel] = current

    async def read_channels(self, after: dict[str, str], upto: dict[str, str]) -> dict[str, list[Entry]] | None:
        found: dict[str, list[Entry]] = {}
        for channel, at in after.items():
            entries = found[channel] = []
            epoch, last = at.partition(":")[0], upto[channel]
            if last.partition(":")[0] != epoch:
                return None
            async for batch in self._batches(at, last.partition(":")[2], strict=False, keys=self.keys(channel)):
                if batch is None:
                    return None
                for stream_id, fields in batch:
                    entry = self._entry(f"{epoch}:{stream_id.decode()}", fields, channel)
                    if entry is not None:
                        entries.append(entry)
        return found

    async def catch_up(self, gap: float) -> int | None:
        """Deliver what each subscribed channel's stream holds after this process's position in it, channel by
        channel (each in its order); ``None`` when a stream no longer covers the gap, or a channel's position was
        never known (see `RedisRecoveryLog.catch_up`)."""
        self._settled.clear()  # a new subscription: positions are made exact again at the next connection
        subscriptions = self.manager.subscriptions
        wanted = subscriptions.channels() if subscriptions is not None else [self.control]
        strict, delivered = gap + self.gap_margin >= self.window, 0
        for channel in wanted:
            after = self.heads.get(channel)
            if after is None:
                if channel == self.control:
                    continue  # no connection ever needed it: none is owed a packet of it
                return None
            epoch = after.partition(":")[0]
            async for batch in self._batches(after, "+", strict=strict, keys=self.keys(channel)):
                if batch is None:
                    return None
                for stream_id, fields in batch:
                    values = dict(zip(fields[::2], fields[1::2], strict=True))
                    offset = f"{epoch}:{stream_id.decode()}"
                    await self.manager.deliver_missed(values.get(b"m", b""), values.get(b"h") or None, offset, channel)
                    self.seen(offset, channel)
                    delivered += 1
        return delivered


def recovery_log_for(manager: socketio.AsyncManager | None, settings: EventBusSettings) -> RecoveryLog | None:
    """The recovery log for this manager (``None`` when ``recovery_window`` is 0): in its Redis, or in memory."""
    if not settings.recovery_window:
        return None
    if isinstance(manager, RedisManager):
        if manager.recovery is None:
            # On a cluster: one stream per channel (this module's log); otherwise the one stream of RedisRecoveryLog.
            kind = ClusterRecoveryLog if manager.cluster else RedisRecoveryLog
            log = kind(manager, window=settings.recovery_window, max_packets=settings.recovery_max_packets)
            manager.recovery, manager.catch_up = log, log.catch_up
        return manager.recovery
    return MemoryRecoveryLog(settings.recovery_window, max_packets=settings.recovery_max_packets)
