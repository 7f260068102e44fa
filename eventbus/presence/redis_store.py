"""Presence shared by every process on one Redis, surviving the crash of any of them.

Keys, under ``{channel}:presence:`` so applications sharing a Redis stay apart
(a room name never contains a space, so ``room user`` is unambiguous):

- ``conns:{room} {user}``: set of the user's connection ids in the room (``node:sid``);
- ``members:{room}``: hash user id -> info JSON (one entry per present user);
- ``node:{node}``: set of ``[room, user, conn]`` entries this process recorded;
- ``alive:{node}``: heartbeat, refreshed every ``interval`` seconds, expiring after ``ttl``;
- ``nodes``: every node that ever recorded an entry and has not been reaped.

On a Redis Cluster (``tags``), a room's keys and the node index entries for
that room carry the room's hash tag (its partition channel, ``{app-events#12}``):
``conns``, ``members`` and ``node:{node}`` of one tag share a slot, so each
script runs on one master and the rooms spread over the masters; a node has
one index per tag, all of which the reaper empties. ``alive`` and ``nodes``
carry the control channel's tag (one transaction writes both).

Adding and removing are Lua scripts, so "first connection" and "last connection"
are decided atomically however many processes race. Every process runs a
reaper: a node whose heartbeat expired has its entries SPOPped one at a time
(each goes to exactly one reaper) and removed like a normal leave, so
``presence_leave`` goes out exactly once per member, at most ``ttl + interval``
seconds after the process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from eventbus.observability.logfields import library_logger
from eventbus.presence.store import PresenceStore, Reaped
from events.presence import PresenceMember

if TYPE_CHECKING:
    from collections.abc import Callable

logger = library_logger(__name__)

STOP_TIMEOUT = 2.0
"""Seconds `RedisPresenceStore.stop` gives its tasks and Redis to finish: a shutdown must not hang on Redis."""

# KEYS: conns, members, node index. ARGV: conn, user id, info JSON, entry.
_ADD = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
"""

# KEYS: conns, members, node index. ARGV: conn, user id, entry. Returns the info JSON when it was the last.
_REMOVE = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[3])
if removed == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  local info = redis.call('HGET', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
  return info or '{}'
end
return false
"""


class SlotTags(Protocol):
    """The hash tags of a cluster's keys (``eventbus.transport.sharding.Partitions`` is one)."""

    channel: str
    """The tag of the per-process keys (heartbeats, the node list)."""
    names: list[str]
    """Every tag `of` can return."""

    def of(self, room: str) -> str:
        """The tag of ``room``'s keys."""
        ...


class RedisPresenceStore(PresenceStore):
    """Presence across processes: the union of every process's members, with dead processes reaped.

    ``client_factory`` returns a ``redis.asyncio.Redis`` (or ``RedisCluster``, with ``tags``); ``node_id`` names
    this process (the Redis manager's ``host_id``). A crashed process's members are
    gone, with ``on_reaped`` called for each, within ``ttl + interval`` seconds.

    Example:
        >>> import redis.asyncio
        >>> store = RedisPresenceStore(lambda: redis.asyncio.Redis(), prefix="eventbus", node_id="n1")
        >>> async def main() -> None:
        ...     async with store:  # connects, then keeps this process's heartbeat until the block ends
        ...         print(await store.add("doc:1", PresenceMember(user_id="alice"), "sid1"))
        >>> asyncio.run(main())  # needs Redis: run by tests/eventbus/test_presence_store.py  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        prefix: str,
        node_id: str,
        ttl: float = 10.0,
        interval: float = 3.0,
        tags: SlotTags | None = None,
    ) -> None:
        if not 0 < interval < ttl:
            raise ValueError(f"presence heartbeat interval must be above 0 and below the ttl {ttl} (got {interval})")
        self._client_factory = client_factory
        self._client: Any = None
        self.prefix = f"{prefix}:presence:"
        self.node_id = node_id
        self.ttl = ttl
        self.interval = interval
        self.tags = tags
        self._tasks: list[asyncio.Task[None]] = []
        self._on_reaped: Reaped | None = None

    def __repr__(self) -> str:
        return f"RedisPresenceStore(prefix={self.prefix!r}, node_id={self.node_id!r}, ttl={self.ttl})"

    def _key(self, *parts: str, tag: str | None = None) -> str:
        return self.prefix + (f"{{{tag}}}:" if tag else "") + ":".join(parts)

    def _home(self, *parts: str) -> str:
        return self._key(*parts, tag=self.tags.channel if self.tags else None)

    def _tag(self, room: str) -> str | None:
        return self.tags.of(room) if self.tags else None

    def _room_keys(self, room: str, user_id: str, node: str) -> list[str]:
        # conns, members, the node's index: one slot on a cluster, for the scripts that touch them together.
        tag = self._tag(room)
        return [
            self._key("conns", f"{room} {user_id}", tag=tag),
            self._key("members", room, tag=tag),
            self._key("node", node, tag=tag),
        ]

    def _redis(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def start(self, on_reaped: Reaped | None = None) -> None:
        if self._tasks:
            return
        self._on_reaped = on_reaped
        # Alive before the first entry is recorded, so no other process can reap a member that was just added.
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._every(self._beat), name=f"eventbus-presence-heartbeat-{self.node_id}"),
            asyncio.create_task(self._every(self.reap), name=f"eventbus-presence-reaper-{self.node_id}"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # Taken once the tasks are done: one still running would otherwise open a client nobody closes.
                client, self._client = self._client, None
                if client is not None:
                    # Entries left now belong to nobody: dropping the heartbeat lets the others reap them at once.
                    with contextlib.suppress(RedisError, OSError):
                        await client.delete(self._home("alive", self.node_id))
                    await client.aclose()
        except TimeoutError:
            # A command cancelled half-way can leave its connection waiting for a reply that never comes: the
            # heartbeat then lapses on its own and the other processes reap this one's members within the TTL.
            logger.warning("presence: stopping %s took over %.0fs; left to the TTL", self.node_id, STOP_TIMEOUT)

    async def add(self, room: str, member: PresenceMember, sid: str) -> bool:
        conn = f"{self.node_id}:{sid}"
        entry = json.dumps([room, member.user_id, conn])
        keys = self._room_keys(room, member.user_id, self.node_id)
        first = await self._redis().eval(_ADD, 3, *keys, conn, member.user_id, json.dumps(member.info), entry)
        return bool(first)

    async def remove(self, room: str, user_id: str, sid: str) -> PresenceMember | None:
        return await self._remove(room, user_id, f"{self.node_id}:{sid}", self.node_id)

    async def _remove(self, room: str, user_id: str, conn: str, node: str) -> PresenceMember | None:
        entry = json.dumps([room, user_id, conn])
        keys = self._room_keys(room, user_id, node)
        info = await self._redis().eval(_REMOVE, 3, *keys, conn, user_id, entry)
        if info is None:
            return None
        return PresenceMember(user_id=user_id, info=json.loads(info))

    async def members(self, room: str) -> list[PresenceMember]:
        found: dict[bytes, bytes] = await self._redis().hgetall(self._key("members", room, tag=self._tag(room)))
        members = [PresenceMember(user_id=user.decode(), info=json.loads(info)) for user, info in found.items()]
        return sorted(members, key=lambda member: member.user_id)

    async def _beat(self) -> None:
        client = self._redis()
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(self._home("alive", self.node_id), "1", px=int(self.ttl * 1000))
            pipe.sadd(self._home("nodes"), self.node_id)
            await pipe.execute()

    async def reap(self) -> int:
        """Remove the entries of every node whose heartbeat expired; returns how many members left."""
        client = self._redis()
        left = 0
        for raw in await client.smembers(self._home("nodes")):
            node = raw.decode()
            if node == self.node_id or await client.exists(self._home("alive", node)):
                continue
            left += await self._reap_node(node)
        return left

    async def _reap_node(self, node: str) -> int:
        client = self._redis()
        left = 0
        indexes = (
            [self._key("node", node, tag=tag) for tag in self.tags.names] if self.tags else [self._key("node", node)]
        )
        for index in indexes:
            # SPOP hands each entry to exactly one reaper, however many processes reap the same dead node.
            while (raw := await client.spop(index)) is not None:
                room, user_id, conn = json.loads(raw)
                if await self._reaped(room, user_id, conn, node):
                    left += 1
        await client.srem(self._home("nodes"), node)
        return left

    async def _reaped(self, room: str, user_id: str, conn: str, node: str) -> bool:
        member = await self._remove(room, user_id, conn, node)
        if member is None:
            return False
        logger.info("presence: %s left %s with dead process %s", user_id, room, node)
        if self._on_reaped is not None:
            try:
                await self._on_reaped(room, member)
            except Exception:  # one failed notification must not leave the rest of the dead node behind
                logger.exception("presence: could not announce that %s left %s", user_id, room)
        return True

    async def _every(self, work: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await work()
            except (RedisError, OSError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py can report a cancelled command as a connection error: `stop` still ends this loop.
                    raise asyncio.CancelledError from exc
                # Redis down: keep trying; if the heartbeat lapses meanwhile, the others reap this node's members.
                logger.warning("presence: %s failed (%s); retrying in %.1fs", work.__name__, exc, self.interval)
