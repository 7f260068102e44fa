"""python-socketio's Redis managers, hardened for production.

Three changes to ``socketio.AsyncRedisManager`` / ``socketio.RedisManager``,
each small and each because the stock behaviour loses messages silently or
trusts the channel:

- publishing raises `PublishError` when Redis refuses or is down, instead of
  logging "giving up" and returning; on a server the message is published
  before it is delivered to local sockets, so a failed broadcast reached nobody
  and may be retried;
- the listener has its own connection, reconnects with a short capped backoff
  and logs loss and recovery with the URL (password hidden). Pub/sub does not
  queue, so what was published while it was away never reached this process:
  with connection state recovery on, it catches up from the recovery stream
  (``catch_up``) before anything newer, or, when the stream no longer covers the
  gap, ends every local connection (``gap_listener``) so no client stays silently
  behind; without recovery the gap is logged with its duration and counted;
- with a signing key, every message is sealed by `Signer` and unsigned,
  forged, stale or replayed ones are dropped and logged.

It also adds ``disconnect_room``: disconnect every socket in a room (all
connections of a user) on every process, and, with ``sharding``, room-sharded
channels (`eventbus.transport.sharding`): a process subscribes to the partition of
a room when its first local member joins (before the join returns) and unsubscribes
when the partition's last local room empties.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, OrderedDict
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
import socketio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry

from eventbus.history.channels import ChannelRecoveryLog, Sent
from eventbus.history.recovery import compare
from eventbus.observability import tracing
from eventbus.observability.logfields import library_logger
from eventbus.transport.channel import Channel
from eventbus.transport.redis_url import check_url
from eventbus.transport.sharding import (
    DEFAULT_DEDICATED,
    DEFAULT_PARTITIONS,
    WANT_TIMEOUT,
    Subscriptions,
    is_sharded_room,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from eventbus.history.recovery import RecoveryLog
    from eventbus.history.rooms import RoomHistory

    RoomListener = Callable[[str, str, bool], Awaitable[None]]
    """``(sid, room, entered)``: a socket of this process was put in or taken out of a room by another process."""

    GapListener = Callable[[], int]
    """Ends every connection of this process after a gap recovery could not fill; returns how many it ended."""

logger = library_logger(__name__)

CLUSTER_POLL = 0.01
"""Seconds the cluster listener waits on one node's connection before trying the next (redis-py polls them)."""

LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 5.0
"""Backoff bounds of the listener's reconnection: short, so delivery resumes within seconds of Redis returning."""

LISTEN_RETRY_FAST_FOR = 30.0
"""Seconds of an outage during which the listener retries every `LISTEN_RETRY_MIN` before backing off.

A restart or failover is usually over within that: the subscription comes back within half a second
of Redis answering again, instead of up to `LISTEN_RETRY_MAX` later (each second of it loses messages).
"""

SPLIT_MEMORY = 10.0
"""Seconds the sockets served by a send split over partitions (Redis Cluster) are remembered, for its other parts:
the parts are published back to back, so they arrive within milliseconds of each other."""

GAP_REASON = "redis_gap"
"""The ``session_ended`` reason of connections ended after a gap in the subscription that recovery could not fill."""

_GAP = "eb-gap"  # the type of the marker `_subscription` yields when it is back after a loss
_FENCE = "eb-fence "  # the prefix of `RedisManager.fence_channel`'s markers

# Set while a server's own emit is publishing: its local delivery waits until the publish has succeeded.
_held_local: ContextVar[list[dict[str, Any]] | None] = ContextVar("_held_local", default=None)


class RedisManager(Channel, socketio.AsyncRedisManager):  # type: ignore[misc]
    """The client manager of a Redis-backed `EventBus`, and the publisher behind `Emitter` (``write_only``).

    Example:
        >>> manager = RedisManager("redis://localhost:6379/0", channel="eventbus", signing_key="a-long-random-key")
        >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)  # connects when the server starts
    """

    name = "eventbus-redis"

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        signing_key: str | None = None,
        write_only: bool = False,
        redis_options: dict[str, Any] | None = None,
        sharding: bool = False,
        partitions: int = DEFAULT_PARTITIONS,
        dedicated_rooms: Iterable[str] = DEFAULT_DEDICATED,
    ) -> None:
        super().__init__(check_url(url), channel=channel, write_only=write_only, redis_options=redis_options)
        self._setup_signing(signing_key)
        self._setup_sharding(sharding, partitions, dedicated_rooms)
        self.subscriptions = Subscriptions(self.partitions) if self.partitions and not write_only else None
        self._fences: dict[str, asyncio.Future[None]] = {}
        self._fence_ids = itertools.count()
        self.received: Counter[str] = Counter()
        """Pub/sub messages received: ``control``, ``partition``, ``dedicated`` (a dedicated room's own channel),
        and ``unserved`` (a message for a room with no member on this process: the cost of sharing a partition
        with other rooms, or a message in flight when its room's last member left)."""
        self.subscribed = asyncio.Event()
        self.room_listener: RoomListener | None = None
        # Set when recovery / history rooms are on: a RedisRecoveryLog, and a RedisRoomHistory per application.
        self.recovery: RecoveryLog | None = None
        self.histories: dict[str, RoomHistory] = {}
        self.catch_up: Callable[[float], Awaitable[int | None]] | None = None
        """Set by `RedisRecoveryLog`: delivers (`deliver_missed`) what the recovery stream holds after this process's
        position; the number of packets, or ``None`` when the stream no longer covers the gap."""
        self.gap_listener: GapListener | None = None
        # The last offset a catch-up delivered, per channel on a cluster ("" else): its copies still in the pub/sub
        # pipe are skipped.
        self._replayed_upto: dict[str, str] = {}
        self._publisher: Any = None
        self._publisher_loop: asyncio.AbstractEventLoop | None = None
        self._splits: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()  # split id -> when, sids served

    def __repr__(self) -> str:
        sharded = f", partitions={self.partitions.count}" if self.partitions else ""
        return f"RedisManager({self.safe_url!r}, channel={self.channel!r}, signed={self.signer is not None}{sharded})"

    async def check(self) -> None:
        """Ping Redis; raise `RedisUnavailableError` naming the URL (password hidden) when it does not answer."""
        try:
            await self._client().ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        """Stop listening and close the connections."""
        listener: asyncio.Task[None] | None = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            self.thread = None
        self.subscribed.clear()
        if self.subscriptions is not None:
            await self.subscriptions.close()
        if self._publisher is not None:
            await self._publisher.aclose()
            self._publisher = None

    async def emit(self, event: str, data: Any, namespace: str | None = None, **kwargs: Any) -> None:
        if kwargs.get("ignore_queue") or self.write_only:
            await super().emit(event, data, namespace=namespace, **kwargs)
            return
        held: list[dict[str, Any]] = []
        token = _held_local.set(held)
        try:
            await super().emit(event, data, namespace=namespace, **kwargs)
        finally:
            _held_local.reset(token)
        for message in held:
            await super()._handle_emit(message)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        held = _held_local.get()
        if held is not None:
            held.append(message)
        elif not self.write_only:
            self._once_per_split(message)
            with tracing.delivering(message):
                await super()._handle_emit(message)

    async def disconnect_room(self, room: str, namespace: str = "/") -> None:
        """Disconnect every socket in ``room``, on this process and on every other one."""
        message = {"method": "disconnect_room", "room": room, "namespace": namespace, "host_id": self.host_id}
        await self._publish(message)
        if not self.write_only:
            await self._handle_disconnect_room(message)

    async def _handle_disconnect_room(self, message: dict[str, Any]) -> None:
        namespace = message.get("namespace") or "/"
        for sid, _ in list(self.get_participants(namespace, message.get("room"))):
            try:
                await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
            except Exception:  # one socket failing to close must not keep the others open
                logger.exception("could not disconnect sid=%s", sid)

    async def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        # Subscribe before entering: the join's ack (sent after this returns) then comes after the partition's
        # SUBSCRIBE was confirmed, so every message published after the ack reaches this process.
        if self.subscriptions is not None and is_sharded_room(room) and self._holds(sid, namespace):
            await self.subscriptions.want(namespace or "/", room)
            if isinstance(self.recovery, ChannelRecoveryLog):
                # The room's channel position is where the socket starts being owed its packets: exact first.
                await self.recovery.settle([self.recovery.channel_of(room)])
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    async def subscribe_rooms(self, namespace: str, rooms: list[str]) -> None:
        """Subscribe now to the partitions of ``rooms`` (no-op without sharding), before reading what a join replays.

        A room the socket then fails to enter keeps its partition subscribed until a room of it empties.
        With recovery on, the log's position is then brought up to the stream's tail (see `fence`).
        """
        if self.subscriptions is None:
            return
        for room in rooms:
            if is_sharded_room(room):
                await self.subscriptions.want(namespace or "/", room)
        if isinstance(self.recovery, ChannelRecoveryLog):
            await self.recovery.settle([self.channel, *(self.partitions_of(rooms))])
        elif self.recovery is not None:
            # This process sees only its partitions' packets, so its position lags the stream. Every packet up to
            # the tail read here was published before the PING of `fence`, so it has been through the listener
            # (delivered, or not for us) once the PONG is back: the tail is then a true position.
            tail = await self.recovery.tail()
            await self.fence()
            self.recovery.seen(tail)

    def partitions_of(self, rooms: list[str]) -> set[str]:
        """The partition channels of ``rooms`` (those that have one)."""
        partitions = self.partitions
        return {partitions.of(room) for room in rooms if is_sharded_room(room)} if partitions is not None else set()

    async def fence_channel(self, channel: str) -> None:
        """Return once the listener has handled every message SPUBLISHed on ``channel`` before now (a cluster).

        A marker SPUBLISHed on the channel itself: it comes after them in the channel's one order, and a cluster
        has no single connection a PING could fence. Every subscriber receives it and drops it.
        """
        token = f"eb-fence-{self.host_id}-{next(self._fence_ids)}"
        waiter = self._fences[token] = asyncio.get_running_loop().create_future()
        try:
            await self._client().spublish(channel, f"{_FENCE}{token}")
            await asyncio.wait_for(waiter, WANT_TIMEOUT)
        finally:
            self._fences.pop(token, None)

    async def emit_behind(self, event: str, sid: str, namespace: str = "/") -> int:
        """Emit ``event`` to ``sid`` through Redis on every channel its rooms use; how many emits were published.

        Each reaches the socket from the subscription, after whatever was published on its channel before it, from
        any process (a logged emit, which every process delivers from there, this one included): a socket that
        has them all has been sent everything published to it before. `SocketTestClient.fence` waits for them.
        """
        channels = [self.channel, *sorted(self.partitions_of(self.get_rooms(sid, namespace)))]
        # Another host id than ours: python-socketio's listener skips our own emits, delivered locally when sent.
        message = {"method": "emit", "event": event, "data": [{}], "namespace": namespace, "room": sid}
        message["host_id"] = f"behind-{self.host_id}"
        client = self._client()
        for channel in channels:
            # Encoded for each: a signed message is accepted once, the same one on a second channel is a replay.
            await (client.spublish if self.cluster else client.publish)(channel, self._encode(message))
        return len(channels)

    async def fence(self) -> None:
        """Return once the listener has handled every message Redis sent it before now (a PING on its connection)."""
        subscriptions = self.subscriptions
        pubsub = subscriptions.pubsub if subscriptions is not None else None
        if pubsub is None:
            return
        token = f"eb-fence-{next(self._fence_ids)}"
        waiter = self._fences[token] = asyncio.get_running_loop().create_future()
        try:
            await pubsub.ping(token)
            await asyncio.wait_for(waiter, WANT_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("no PONG from the Redis subscription at %s (%s): a join goes ahead", self.safe_url, exc)
        finally:
            self._fences.pop(token, None)

    def basic_leave_room(self, sid: str, namespace: str, room: str) -> None:
        super().basic_leave_room(sid, namespace, room)
        # Every way out of a room (leave, disconnect, close_room) comes through here.
        if self.subscriptions is not None and is_sharded_room(room) and room not in self.rooms.get(namespace, {}):
            channel = self.subscriptions.released(namespace, room)
            if channel is not None:
                self._forget_channel(channel)

    def _forget_channel(self, channel: str) -> None:
        # No local member is owed a packet of it: what a later subscription needs is found again then (`settle`),
        # and a saved session is restored from the channel's stream, not from this process's memory.
        self._replayed_upto.pop(channel, None)
        if isinstance(self.recovery, ChannelRecoveryLog):
            self.recovery.forget(channel)

    def _holds(self, sid: str, namespace: str) -> bool:
        return bool(self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace))

    async def _handle_enter_room(self, message: dict[str, Any]) -> None:
        sid, room, namespace = message.get("sid"), message.get("room"), message.get("namespace") or "/"
        # Run by the listener, which reads the SUBSCRIBE confirmation: waiting for it here would block on itself.
        if (
            self.subscriptions is not None
            and is_sharded_room(room)
            and isinstance(sid, str)
            and self._holds(sid, namespace)
        ):
            self.subscriptions.want_soon(namespace, str(room))
        await super()._handle_enter_room(message)
        await self._tell_room_listener(message, entered=True)

    async def _handle_leave_room(self, message: dict[str, Any]) -> None:
        await super()._handle_leave_room(message)
        await self._tell_room_listener(message, entered=False)

    async def _tell_room_listener(self, message: dict[str, Any], *, entered: bool) -> None:
        # Another process moved one of our sockets: only this one knows its user, so presence is recorded here.
        sid, room, namespace = message.get("sid"), message.get("room"), message.get("namespace") or "/"
        if self.room_listener is None or not isinstance(sid, str) or not isinstance(room, str):
            return
        if not self.is_connected(sid, namespace):
            return
        try:
            await self.room_listener(sid, room, entered)
        except Exception:
            logger.exception("room listener failed for sid=%s room=%s", sid, room)

    def new_client(self) -> Any:
        """A fresh ``redis.asyncio.Redis`` on this manager's URL and options (TLS, sentinel), for other Redis work."""
        return self._new_client(redis.asyncio, AsyncRetry(NoBackoff(), 1))

    def _client(self) -> Any:
        # A client's connections belong to the loop that opened them: code that calls asyncio.run() per task
        # (a Celery worker using the async Emitter) gets a fresh client per loop instead of a dead one.
        loop = asyncio.get_running_loop()
        if self._publisher is None or self._publisher_loop is not loop:
            self._publisher = self._new_client(redis.asyncio, AsyncRetry(NoBackoff(), 1))
            self._publisher_loop = loop
        return self._publisher

    async def _publish(self, data: dict[str, Any]) -> Any:
        try:
            client, channel = self._client(), self._channel_for(data)
            if self.cluster:
                return await client.spublish(channel, self._encode(data))
            return await client.publish(channel, self._encode(data))
        except (RedisError, OSError) as exc:
            raise self._publish_failed(data, exc) from exc

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        channel = self.channel.encode()
        async for message in self._subscription():
            if message.get("type") == _GAP:
                await self._fill_gap(message["seconds"])
                continue
            if message.get("type") not in ("message", "smessage"):
                continue
            if not self._counted(message, channel):
                continue
            positions, offset, raw = _logged(message["data"])
            if offset is not None and self._replayed(message["channel"], offset):
                continue  # published while the catch-up read the stream: delivered from there already
            decoded = self._decode(raw)
            if decoded is None:
                continue
            # Counted, not dropped: a logged emit still goes through the history and recovery bookkeeping below.
            if message.get("channel") != channel and self._unserved(decoded):
                self.received["unserved"] += 1
            if (offset is not None or positions is not None) and decoded.get("method") == "emit":
                await self._deliver_logged(decoded, positions, offset, message["channel"].decode())
                continue
            if decoded.get("method") == "disconnect_room":
                if decoded.get("host_id") != self.host_id:
                    await self._handle_disconnect_room(decoded)
                continue
            yield decoded

    def _replayed(self, channel: bytes, offset: bytes) -> bool:
        upto = self._replayed_upto.get(self._replay_key(channel.decode()))
        return bool(upto) and compare(offset.decode(), upto or "") in (-1, 0)

    def _replay_key(self, channel: str) -> str:
        # Where `_replayed_upto` keeps a channel's mark: per channel with one stream each (a cluster), else "" for
        # the one stream of every channel.
        return channel if isinstance(self.recovery, ChannelRecoveryLog) else ""

    def _counted(self, message: dict[str, Any], control: bytes) -> bool:
        # Whether ``message`` is one to act on (counted): of our channels, and not a fence marker (handled here).
        if message.get("channel") == control:
            self.received["control"] += 1
        elif self.partitions is not None and self.partitions.owns(name := message.get("channel", b"").decode()):
            self.received["partition" if name in self.partitions.names else "dedicated"] += 1
        else:
            return False
        if message["data"][: len(_FENCE)] == _FENCE.encode():
            self._fenced(message["data"][len(_FENCE) :])
            return False
        return True

    async def _deliver_logged(
        self, message: dict[str, Any], positions: bytes | None, offset: bytes | None, channel: str = ""
    ) -> None:
        # Every process delivers these from the subscription, the sender too: the channel's order (the streams')
        # is then each socket's order. Without recovery on this process, the packet goes out without its offset.
        args = message.get("data")
        args = list(args) if isinstance(args, list) else [args]
        args = [] if args == [None] else args
        if offset is not None and isinstance(self.recovery, ChannelRecoveryLog):
            self._note_sent(self.recovery, message, channel, offset.decode())
        self._once_per_split(message)
        if positions is not None:
            parsed = json.loads(positions)
            history = self.histories.get(message.get("namespace") or "/")
            skip = history.delivering(parsed) if history is not None else set()
            if skip:
                listed = message.get("skip_sid") or []
                message["skip_sid"] = [*([listed] if isinstance(listed, str) else listed), *skip]
            args.append(parsed)
        if offset is not None and self.recovery is not None:
            self.recovery.seen(offset.decode(), channel)
            args.append(offset.decode())
        message["data"] = args or [None]
        try:
            with tracing.delivering(message):
                await super()._handle_emit(message)
        except Exception:
            logger.exception("could not deliver a recoverable emit of %r", message.get("event"))

    def _note_sent(self, log: ChannelRecoveryLog, message: dict[str, Any], channel: str, offset: str) -> None:
        # Into the rings of the sockets it goes to, and of those a split send's earlier part reached (they have it):
        # before `_once_per_split` adds them to the skipped ones. One shared record per packet.
        skip = message.get("skip_sid") or []
        skipped = {skip} if isinstance(skip, str) else set(skip)
        sids = self.get_participants(message.get("namespace") or "/", message.get("room"))
        split = message.get("split")
        log.sent(
            (sid for sid, _ in sids if sid not in skipped),
            Sent(channel, offset, split if isinstance(split, str) else None),
        )

    def _once_per_split(self, message: dict[str, Any]) -> None:
        # A part of a send split over partitions (eventbus.transport.publishing): skip the sockets an earlier part
        # reached, so a socket in rooms of two partitions gets the send once, like python-socketio's multi-room emit.
        split = message.get("split")
        if not isinstance(split, str):
            return
        now = time.monotonic()
        while self._splits and next(iter(self._splits.values()))[0] < now - SPLIT_MEMORY:
            self._splits.popitem(last=False)
        served = self._splits.setdefault(split, (now, set()))[1]
        if served:
            listed = message.get("skip_sid") or []
            message["skip_sid"] = [*([listed] if isinstance(listed, str) else listed), *served]
        served.update(sid for sid, _ in self.get_participants(message.get("namespace") or "/", message.get("room")))

    async def deliver_missed(self, raw: bytes, positions: bytes | None, offset: str, channel: str = "") -> None:
        """Deliver one recovery stream entry (the message as published, its room positions) the subscription missed."""
        decoded = self._decode(raw, fresh=False)  # older than a live message may be: freshness does not apply
        if decoded is not None and decoded.get("method") == "emit":
            await self._deliver_logged(decoded, positions, offset.encode(), channel)
        self._replayed_upto[self._replay_key(channel)] = offset

    async def _fill_gap(self, seconds: float) -> None:
        # The listener waits meanwhile: what arrives on the new subscription is handled after the missed packets.
        if self.recovery is None or self.catch_up is None:
            self.recorder.redis_gap("lost")
            logger.warning(
                "resubscribed to Redis at %s channel %r after a gap of %.1fs: delivery resumed; messages published "
                "meanwhile did not reach this process's clients (at most once: EVENTBUS_RECOVERY_WINDOW is off)",
                self.safe_url,
                self.channel,
                seconds,
            )
            return
        try:
            missed = await self.catch_up(seconds)
        except (RedisError, OSError) as exc:
            logger.error("could not read the recovery stream at %s after the gap (%s)", self.safe_url, exc)
            missed = None
        if missed is not None:
            self.recorder.redis_gap("caught_up")
            logger.warning(
                "resubscribed to Redis at %s channel %r after a gap of %.1fs: %d missed packets delivered "
                "from the recovery stream",
                self.safe_url,
                self.channel,
                seconds,
                missed,
            )
            return
        if not isinstance(self.recovery, ChannelRecoveryLog):
            self._replayed_upto[""] = self.recovery.position
        ended = self.gap_listener() if self.gap_listener is not None else 0
        self.recorder.redis_gap("sessions_ended")
        logger.error(
            "resubscribed to Redis at %s channel %r after a gap of %.1fs that the recovery stream no longer covers "
            "(Redis lost its data, or the stream was trimmed): ended %d connections with session_ended %r",
            self.safe_url,
            self.channel,
            seconds,
            ended,
            GAP_REASON,
        )

    def _fenced(self, data: Any) -> None:
        token = data.decode() if isinstance(data, bytes) else str(data)
        waiter = self._fences.pop(token, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unserved(self, message: dict[str, Any]) -> bool:
        room = self.partitions.room_of(message) if self.partitions is not None else None
        return room is not None and room not in self.rooms.get(message.get("namespace") or "/", {})

    async def _received(self, pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        if not self.cluster:
            async for message in pubsub.listen():
                yield message
            return
        # redis-py's async ClusterPubSub has no listen(): it polls a connection per node holding our shard
        # channels, in turn, each for up to CLUSTER_POLL seconds.
        while True:
            try:
                message = await pubsub.get_sharded_message(timeout=CLUSTER_POLL)
            except RuntimeError as exc:
                # redis-py polls its per-node connections from a snapshot of them; once a node's last shard channel
                # is unsubscribed it closes that connection, and the snapshot can still hand it out once. Nothing is
                # missed there (it held no subscription): poll the next one.
                if "pubsub connection not set" not in str(exc):
                    raise
                continue
            if message is None:
                await asyncio.sleep(0)
                continue
            yield message

    async def _subscribe(self, client: Any) -> Any:
        if self.cluster:
            await client.initialize()  # the slot map: ClusterPubSub needs it to find each channel's node
        pubsub = client.pubsub()
        subscriptions = self.subscriptions
        if subscriptions is None:
            await pubsub.subscribe(self.channel)
            return pubsub
        subscriptions.sharded_commands = self.cluster
        await (pubsub.ssubscribe if self.cluster else pubsub.subscribe)(*subscriptions.channels())
        subscriptions.pubsub = pubsub
        return pubsub

    def _confirms_channel(self, message: dict[str, Any]) -> bool:
        # A PONG ends a fence; a partition's confirmation releases the joins waiting for it.
        if message.get("type") == "pong":
            self._fenced(message.get("data"))
            return False
        if self.subscriptions is not None:
            self.subscriptions.confirmed(message["channel"].decode())
        return bool(message.get("channel") == self.channel.encode())

    async def _subscription(self) -> AsyncIterator[dict[str, Any]]:
        delay, lost_at, failures = LISTEN_RETRY_MIN, None, 0
        while True:
            # No retries inside redis-py: a lost connection surfaces here, where it is logged and retried.
            client = self._new_client(redis.asyncio, AsyncRetry(NoBackoff(), 0))
            pubsub: Any = None
            try:
                pubsub = await self._subscribe(client)
                async for message in self._received(pubsub):
                    if message.get("type") not in ("subscribe", "ssubscribe", "pong"):
                        yield message
                        continue
                    if not self._confirms_channel(message):
                        continue
                    # Confirmed by Redis: only from here on does this process receive what is published.
                    self.subscribed.set()
                    if lost_at is None:
                        logger.info("listening on Redis at %s channel %r", self.safe_url, self.channel)
                    else:
                        self.recorder.redis_resubscribed()
                        yield {"type": _GAP, "seconds": time.monotonic() - lost_at}
                    delay, lost_at, failures = LISTEN_RETRY_MIN, None, 0
            except (RedisError, RedisClusterException, OSError) as exc:
                self.subscribed.clear()
                if self.subscriptions is not None:
                    self.subscriptions.lost()
                if lost_at is None:
                    lost_at = time.monotonic()
                    logger.error("lost the Redis subscription at %s: %s", self.safe_url, exc)
                failures += 1
                if failures % 20 == 1:  # one line per ~10 s of fast retries, not one per attempt
                    logger.warning(
                        "cannot reach Redis at %s (%s); retrying every %.1fs (attempt %d)",
                        self.safe_url,
                        exc,
                        delay,
                        failures,
                    )
            finally:
                with contextlib.suppress(RedisError, RedisClusterException, OSError):
                    if pubsub is not None:
                        await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(delay)
            if lost_at is not None and time.monotonic() - lost_at > LISTEN_RETRY_FAST_FOR:
                delay = min(delay * 2, LISTEN_RETRY_MAX)


def _logged(raw: bytes) -> tuple[bytes | None, bytes | None, bytes]:
    # A logged emit is published with its room positions and offset first (eventbus.transport.publishing).
    positions = offset = None
    if raw[:5] == b"eb-h ":
        positions, _, raw = raw[5:].partition(b" ")
    if raw[:5] == b"eb-r ":
        offset, _, raw = raw[5:].partition(b" ")
    return positions, offset, raw


class SyncRedisManager(Channel, socketio.RedisManager):  # type: ignore[misc]
    """The write-only publisher behind `SyncEmitter`: blocking calls, safe to share between threads."""

    name = "eventbus-redis-sync"

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        signing_key: str | None = None,
        redis_options: dict[str, Any] | None = None,
        sharding: bool = False,
        partitions: int = DEFAULT_PARTITIONS,
        dedicated_rooms: Iterable[str] = DEFAULT_DEDICATED,
    ) -> None:
        super().__init__(check_url(url), channel=channel, write_only=True, redis_options=redis_options)
        self._setup_signing(signing_key)
        self._setup_sharding(sharding, partitions, dedicated_rooms)
        # Created now (redis-py connects lazily), so threads sharing the emitter never race to create it.
        self._publisher: Any = self._new_client(redis, Retry(NoBackoff(), 1))

    def __repr__(self) -> str:
        return f"SyncRedisManager({self.safe_url!r}, channel={self.channel!r}, signed={self.signer is not None})"

    def check(self) -> None:
        """Ping Redis; raise `RedisUnavailableError` naming the URL (password hidden) when it does not answer."""
        try:
            self._client().ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        """Close the connections."""
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def _handle_emit(self, message: dict[str, Any]) -> None:
        """Write-only: there are no local sockets to deliver to."""

    def disconnect_room(self, room: str, namespace: str = "/") -> None:
        """Disconnect every socket in ``room`` on every server process."""
        self._publish({"method": "disconnect_room", "room": room, "namespace": namespace, "host_id": self.host_id})

    def _client(self) -> Any:
        if self._publisher is None:
            self._publisher = self._new_client(redis, Retry(NoBackoff(), 1))
        return self._publisher

    def _publish(self, data: dict[str, Any]) -> Any:
        try:
            client, channel = self._client(), self._channel_for(data)
            if self.cluster:
                return client.spublish(channel, self._encode(data))
            return client.publish(channel, self._encode(data))
        except (RedisError, OSError) as exc:
            raise self._publish_failed(data, exc) from exc
