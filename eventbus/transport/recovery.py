"""The recovery log on Redis: one stream per channel, and sessions any process can restore.

The publishing side is `eventbus.transport.publishing`: one Lua script appends
the message to the channel's stream (``XADD``, trimmed to the window and to
``recovery_max_packets``) and publishes it prefixed with its offset,
``eb-r {epoch}:{stream id} {message}``: both in one atomic step, so the order of the stream is the order every process
receives the channel in. Each process, the sender included, delivers these
messages from its subscription only (never locally first), appending the
offset to the arguments: every socket gets its packets in offset order, which
is what lets a client's last offset say exactly what it has. A session is a
Redis key with the window as TTL, so a client can come back on any process.
When the subscription was lost and is back, `RedisRecoveryLog.catch_up`
delivers what the stream holds after this process's position, before anything
newer, so the gap costs its clients nothing (or tells them, see `catch_up`).

Keys, all under ``{channel}:recovery:`` (an ACL grants ``~{channel}:recovery:*``):
``stream``, ``cut`` (the stream's first id after the last ``recovery_max_packets``
trim: a reconnect from before it is too old), ``epoch`` (set once by the script;
lost with the data, so a flushed or restarted Redis without persistence gives a
new epoch and no false recovery) and ``session:{pid}``. The offset prefix is outside the signature of a signed
message: a forged offset can at worst make a client's next recovery fail or skip.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from eventbus.history.recovery import Entry, RecoveryLog, Session, later, new_epoch
from eventbus.observability.logfields import library_logger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from eventbus.transport.redis_manager import RedisManager


__all__ = ["RedisRecoveryLog"]

logger = library_logger(__name__)

READ_BATCH = 1000
CONCURRENCY = 32
"""Redis calls at once per log: redis-py's pool holds 100 connections and raises beyond, and a thousand clients
dropping together (a network blip, a load balancer restart) would each save a session at the same moment."""

# KEYS: stream, epoch, cut. ARGV: after (exclusive), upto (inclusive), count.
# Returns {epoch or '', the first id kept by the last max_packets trim, 1 when no entry after `after` ever left
# (else 0), entries}. Entries only leave from the head (trimmed by max_packets or by the window; never XDEL), and
# trimming does not move XINFO's max-deleted-entry-id: none after `after` left when none ever left, or when the entry
# at `after` itself is still there. The publish script keeps the cut (the stream's first id after a max_packets trim).
_READ = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then return {'', '0-0', 0, {}} end
local cut = redis.call('GET', KEYS[3]) or '0-0'
if redis.call('EXISTS', KEYS[1]) == 0 then return {epoch, cut, 1, {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local length, added = -1, -2
for i = 1, #info, 2 do
  if info[i] == 'length' then length = info[i + 1] end
  if info[i] == 'entries-added' then added = info[i + 1] end
end
local kept = added == length or #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 1
return {epoch, cut, kept and 1 or 0, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'COUNT', ARGV[3])}
"""


def _arguments(data: Any) -> list[Any]:
    # A pub/sub message's argument list; [None] is no argument, as python-socketio reads it.
    args = list(data) if isinstance(data, list) else [data]
    return [] if args == [None] else args


def _stream_id(offset: str) -> str:
    return offset.partition(":")[2]


class RedisRecoveryLog(RecoveryLog):
    """The packet log and sessions of every process sharing a Redis channel (see the module docstring)."""

    def __init__(self, manager: RedisManager, *, window: float, max_packets: int = 100_000) -> None:
        self.manager = manager
        self.window = window
        self.max_packets = max_packets
        prefix = f"{manager.channel}:recovery"
        self.stream_key, self.epoch_key, self.cut_key, self.session_prefix = (
            f"{prefix}:stream",
            f"{prefix}:epoch",
            f"{prefix}:cut",
            f"{prefix}:session:",
        )
        self._position = ""
        self._redis: Any = None
        self._slots = asyncio.Semaphore(CONCURRENCY)

    def __repr__(self) -> str:
        return f"RedisRecoveryLog({self.manager.safe_url!r}, key={self.stream_key!r}, window={self.window:g})"

    @property
    def position(self) -> str:
        return self._position

    def seen(self, offset: str, channel: str = "") -> None:
        # With sharded channels, packets of different channels arrive out of offset order: keep the latest.
        self._position = later(self._position, offset) if self._position else offset

    async def tail(self) -> str:
        client = self._client()
        epoch, last = await client.get(self.epoch_key), await client.xrevrange(self.stream_key, count=1)
        if epoch is None:
            return self._position
        return f"{epoch.decode()}:{last[0][0].decode() if last else '0-0'}"

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = self.manager.new_client()
        return self._redis

    async def start(self) -> None:
        client = self._client()
        await client.set(self.epoch_key, new_epoch(), nx=True)
        epoch = (await client.get(self.epoch_key)).decode()
        last = await client.xrevrange(self.stream_key, count=1)
        here = f"{epoch}:{last[0][0].decode() if last else '0-0'}"
        # The listener may already have delivered later packets: keep the later position.
        self._position = later(self._position, here) if self._position else here

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def read(self, after: str, upto: str) -> list[Entry] | None:
        epoch = after.partition(":")[0]
        if upto.partition(":")[0] != epoch:
            return None
        entries: list[Entry] = []
        async for batch in self._batches(after, _stream_id(upto), strict=False):
            if batch is None:
                return None
            for stream_id, fields in batch:
                entry = self._entry(f"{epoch}:{stream_id.decode()}", fields)
                if entry is not None:
                    entries.append(entry)
        return entries

    gap_margin = 5.0
    """Seconds added to a measured gap before it is compared with the window: a loss is noticed late (a read
    timeout, a ping) so the subscription may have been away longer than the listener measured."""

    async def catch_up(self, gap: float) -> int | None:
        """Deliver what the stream holds after this process's position, in order (the subscription was away ``gap`` s).

        Returns how many packets it handed to the manager (`RedisManager.deliver_missed`), or ``None`` when the
        stream no longer covers the gap (a new epoch: Redis lost its data; or trimmed past the position): the
        position then moves to the stream's tail, so no reconnect is taken for recovered from before the gap.
        """
        after, delivered = self._position, 0
        epoch = after.partition(":")[0]
        # Entries the window trimmed during a gap shorter than the window were published before the gap, while
        # this process was listening: only max_packets trims can have taken missed ones then. Counting window trims
        # as well ended every connection after a short blip whenever this process had been quiet for a window (on
        # sharded Redis it sees only its partitions, so its position is often that old).
        strict = gap + self.gap_margin >= self.window
        if after:
            async for batch in self._batches(after, "+", strict=strict):
                if batch is None:
                    break
                for stream_id, fields in batch:
                    values = dict(zip(fields[::2], fields[1::2], strict=True))
                    offset = f"{epoch}:{stream_id.decode()}"
                    await self.manager.deliver_missed(values.get(b"m", b""), values.get(b"h") or None, offset)
                    self.seen(offset)  # also when the entry was not for this process (not an emit, not signed)
                    delivered += 1
            else:
                return delivered
        await self.start()
        return None

    async def _batches(
        self, after: str, upto: str, *, strict: bool, keys: tuple[str, str, str] | None = None
    ) -> AsyncIterator[list[Any] | None]:
        # Entries after ``after`` up to stream id ``upto`` (or "+"), READ_BATCH at a time; a last None when any is gone.
        # ``strict`` (a subscription's gap): gone counts whatever removed it. Otherwise (a reconnect) only the
        # max_packets trims count: entries the window trimmed went out while the connection was still there (its
        # session lives for the window), and counting them would refuse every quiet connection (no event for longer
        # than the window on a busy channel: its start entry trimmed, though it missed nothing).
        epoch, cursor = after.partition(":")[0], _stream_id(after)
        stream, epoch_key, cut_key = keys or (self.stream_key, self.epoch_key, self.cut_key)
        while True:
            async with self._slots:
                found_epoch, cut, kept, batch = await self._client().eval(
                    _READ, 3, stream, epoch_key, cut_key, cursor, upto, str(READ_BATCH)
                )
            complete = kept if strict else _not_after(cut.decode(), _stream_id(after))
            if found_epoch.decode() != epoch or not complete:
                yield None  # the stream was lost (new epoch) or trimmed past the offset
                return
            yield batch
            if len(batch) < READ_BATCH:
                return
            cursor = batch[-1][0].decode()

    def _entry(self, offset: str, fields: list[bytes], channel: str = "") -> Entry | None:
        values = dict(zip(fields[::2], fields[1::2], strict=True))
        message = self.manager._decode(values.get(b"m", b""), fresh=False)
        if message is None or message.get("method") != "emit":
            return None
        room, skip = message.get("room"), message.get("skip_sid")
        positions = [json.loads(values[b"h"])] if values.get(b"h") else []
        return Entry(
            offset=offset,
            namespace=message.get("namespace") or "/",
            event=str(message.get("event")),
            args=[*_arguments(message.get("data")), *positions],
            rooms=None if room is None else [room] if isinstance(room, str) else list(room),
            skip=None if skip is None else [skip] if isinstance(skip, str) else list(skip),
            channel=channel,
            split=message.get("split") if isinstance(message.get("split"), str) else None,
        )

    async def save(self, session: Session) -> None:
        key = self.session_prefix + session.pid
        async with self._slots:
            await self._client().set(key, json.dumps(session.to_json()), px=max(1, int(self.window * 1000)))

    async def take(self, pid: str) -> Session | None:
        try:
            async with self._slots:
                raw = await self._client().getdel(self.session_prefix + pid)
        except RedisError:
            logger.exception("could not read recovery session from Redis at %s", self.manager.safe_url)
            return None
        if raw is None:
            return None
        return Session.from_json(json.loads(raw))


def _not_after(a: str, b: str) -> bool:
    # Stream ids "ms-seq": whether a <= b.
    left, right = a.split("-"), b.split("-")
    return (int(left[0]), int(left[1])) <= (int(right[0]), int(right[1]))
