"""Choosing python-socketio's client manager: in memory for one process, Redis pub/sub for several."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from eventbus.exceptions import RedisUnavailableError
from eventbus.observability.logfields import library_logger
from eventbus.presence.redis_store import RedisPresenceStore
from eventbus.presence.store import MemoryPresenceStore, PresenceStore
from eventbus.transport.fastpath import FastEmitManager, FastRedisManager
from eventbus.transport.redis_manager import RedisManager
from eventbus.transport.sharding import DEFAULT_DEDICATED, DEFAULT_PARTITIONS, Partitions

if TYPE_CHECKING:
    from collections.abc import Iterable

    import socketio

    from eventbus.settings import EventBusSettings

logger = library_logger(__name__)

SUBSCRIBE_TIMEOUT = 10.0


def client_manager(
    redis_url: str | None,
    *,
    channel: str,
    signing_key: str | None = None,
    fast_emit: bool = True,
    coalesce_turns: int | None = None,
    sharding: bool = False,
    partitions: int = DEFAULT_PARTITIONS,
    dedicated_rooms: Iterable[str] = DEFAULT_DEDICATED,
) -> socketio.AsyncManager | None:
    """The manager for ``redis_url`` (``None``: in memory).

    With ``fast_emit`` (the default) broadcasts go through `FastEmitManager`, which
    queues one packet per recipient without python-socketio's task per recipient;
    ``fast_emit=False`` gives python-socketio's in-memory manager and `RedisManager` as they are.
    ``coalesce_turns`` (0 for none) is the fast managers' `WriteCoalescer` hold; ``None``, their default
    (`COALESCE_TURNS` with Redis, 0 in memory). ``sharding``/``partitions``/``dedicated_rooms``: room-sharded
    channels (`eventbus.transport.sharding`).

    Example:
        >>> type(client_manager(None, channel="eventbus")).__name__
        'FastEmitManager'
        >>> client_manager(None, channel="eventbus", fast_emit=False) is None
        True
    """
    options: dict[str, Any] = {
        "channel": channel,
        "signing_key": signing_key,
        "sharding": sharding,
        "partitions": partitions,
        "dedicated_rooms": dedicated_rooms,
    }
    if not fast_emit:
        return RedisManager(redis_url, **options) if redis_url else None
    manager = FastRedisManager(redis_url, **options) if redis_url else FastEmitManager()
    if coalesce_turns is not None:
        manager.set_coalescing(coalesce_turns)
    return manager


def presence_store_for(
    manager: socketio.AsyncManager | None, settings: EventBusSettings, *, namespace: str = "/"
) -> PresenceStore:
    """Presence in memory for one process; in the manager's Redis, under its channel, for several.

    Each application has its own store: the same room name in two applications
    is two rooms. On a Redis Cluster each room's keys carry its partition channel as hash tag
    (``eventbus:presence:{eventbus#12}:members:...``), the slot of its pub/sub channel and history.
    Keys of an application other than ``/`` sit under
    ``{channel}:presence:{namespace}:presence:``, inside the ``{channel}:presence:*``
    pattern an ACL grants (the other keys of that prefix never start with ``/``).
    """
    if not isinstance(manager, RedisManager):
        return MemoryPresenceStore()
    prefix = manager.channel if namespace == "/" else f"{manager.channel}:presence:{namespace}"
    return RedisPresenceStore(
        manager.new_client,
        prefix=prefix,
        node_id=manager.host_id,
        ttl=settings.presence_ttl,
        interval=settings.presence_interval,
        tags=_presence_tags(manager),
    )


def _presence_tags(manager: RedisManager) -> Partitions | None:
    # The partitions alone, even for dedicated rooms: the reaper walks a dead process's index under every tag, so
    # the tags must be a bounded list; presence keys need no slot of a channel (no script publishes with them).
    if not manager.cluster or manager.partitions is None:
        return None
    return Partitions(manager.channel, manager.partitions.count, dedicated=())


async def start_manager(sio: socketio.AsyncServer) -> None:
    """Check Redis and start listening now, instead of python-socketio's default: at the first connection."""
    manager = sio.manager
    if isinstance(manager, RedisManager):
        await manager.check()
        logger.info(
            "using Redis at %s channel %r (messages %s)",
            manager.safe_url,
            manager.channel,
            "signed" if manager.signer else "NOT signed: set EVENTBUS_REDIS_SIGNING_KEY",
        )
    if not sio.manager_initialized:
        sio.manager_initialized = True
        manager.initialize()
    if isinstance(manager, RedisManager):
        # The ping answered, so subscribing is quick; waiting means the server is ready to receive when started.
        try:
            await asyncio.wait_for(manager.subscribed.wait(), SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            await manager.close()
            raise RedisUnavailableError(
                f"Redis at {manager.safe_url} answers but channel {manager.channel!r} could not be subscribed to "
                f"within {SUBSCRIBE_TIMEOUT:g}s; see the log above (does the ACL user allow SUBSCRIBE on it?)"
            ) from None


async def subscribe_rooms(sio: socketio.AsyncServer, namespace: str, rooms: list[str]) -> None:
    """With sharded channels, subscribe to the partitions of ``rooms`` now: before reading what a join replays."""
    if isinstance(sio.manager, RedisManager):
        await sio.manager.subscribe_rooms(namespace, rooms)


async def stop_manager(sio: socketio.AsyncServer) -> None:
    """Stop the Redis listener and close its connections (nothing to do in memory)."""
    if isinstance(sio.manager, RedisManager):
        await sio.manager.close()
        sio.manager_initialized = False  # so a later start() listens again


def room_count(sio: socketio.AsyncServer, namespace: str) -> int:
    """Rooms of ``namespace`` on this process with a member, besides each connection's own sid room.

    python-socketio keeps, per namespace, the rooms (``None`` for everyone) and a room per sid.
    """
    rooms = sio.manager.rooms.get(namespace)
    if not rooms:
        return 0
    everyone = rooms.get(None) or {}
    return sum(1 for name, members in rooms.items() if name is not None and name not in everyone and members)


async def disconnect_room(sio: socketio.AsyncServer, room: str, namespace: str) -> None:
    """Disconnect every socket in ``room``: on every process with Redis, on this one in memory."""
    manager = sio.manager
    if isinstance(manager, RedisManager):
        await manager.disconnect_room(room, namespace)
        return
    for sid, _ in list(manager.get_participants(namespace, room)):
        await sio.disconnect(sid, namespace=namespace)
