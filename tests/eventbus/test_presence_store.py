"""One contract for every `PresenceStore`: the in-memory one and the Redis one (on a real redis-server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from eventbus.presence.redis_store import RedisPresenceStore
from eventbus.presence.store import MemoryPresenceStore, PresenceStore
from eventbus.transport.sharding import Partitions
from events import PresenceMember
from tests.redis_server import RedisServer
from tests.waiting import wait_until

ALICE = PresenceMember(user_id="alice", info={"name": "Alice"})
BOB = PresenceMember(user_id="bob")

StoreFactory = Callable[..., RedisPresenceStore]


def redis_stores(redis_server: RedisServer, *, tagged: bool) -> StoreFactory:
    """``make(node_id)``: Redis stores sharing one prefix on the test's redis-server.

    ``tagged``: the Redis Cluster layout (a hash tag per room's partition, an index per partition and node),
    on a plain redis-server, where it behaves the same.
    """
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    tags = Partitions(prefix, 8) if tagged else None

    def make(node_id: str = "n1", **options: Any) -> RedisPresenceStore:
        return RedisPresenceStore(
            lambda: redis.asyncio.Redis.from_url(redis_server.url), prefix=prefix, node_id=node_id, tags=tags, **options
        )

    return make


@pytest.fixture(params=["plain", "tagged"])
def redis_store(request: pytest.FixtureRequest, redis_server: RedisServer) -> StoreFactory:
    return redis_stores(redis_server, tagged=request.param == "tagged")


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-tagged", marks=pytest.mark.redis),
    ]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    chosen: PresenceStore = (
        MemoryPresenceStore()
        if request.param == "memory"
        else redis_stores(request.getfixturevalue("redis_server"), tagged=request.param == "redis-tagged")()
    )
    async with chosen:
        yield chosen


async def test_first_connection_of_a_user_is_reported_once(store: PresenceStore) -> None:
    assert await store.add("doc:1", ALICE, "s1") is True
    assert await store.add("doc:1", ALICE, "s2") is False
    assert await store.add("doc:1", ALICE, "s2") is False
    assert await store.members("doc:1") == [ALICE]


async def test_last_connection_of_a_user_returns_the_member(store: PresenceStore) -> None:
    await store.add("doc:1", ALICE, "s1")
    await store.add("doc:1", ALICE, "s2")
    assert await store.remove("doc:1", "alice", "s1") is None
    assert await store.remove("doc:1", "alice", "s2") == ALICE
    assert await store.members("doc:1") == []


async def test_removing_what_is_not_there_is_a_no_op(store: PresenceStore) -> None:
    assert await store.remove("doc:1", "alice", "s1") is None
    await store.add("doc:1", ALICE, "s1")
    assert await store.remove("doc:1", "alice", "other") is None
    assert await store.remove("doc:1", "bob", "s1") is None
    assert await store.remove("doc:1", "alice", "s1") == ALICE
    assert await store.remove("doc:1", "alice", "s1") is None


async def test_members_are_sorted_and_rooms_kept_apart(store: PresenceStore) -> None:
    await store.add("doc:1", BOB, "s2")
    await store.add("doc:1", ALICE, "s1")
    await store.add("doc:1:x", BOB, "s3")  # a room whose name extends another's
    await store.add("doc", PresenceMember(user_id="1 bob"), "s4")  # a user id with the separator in it
    assert await store.members("doc:1") == [ALICE, BOB]
    assert await store.members("doc:1:x") == [BOB]
    assert await store.members("doc") == [PresenceMember(user_id="1 bob")]
    assert await store.members("doc:2") == []


async def test_racing_tabs_make_exactly_one_first_and_one_last(store: PresenceStore) -> None:
    sids = [f"s{i}" for i in range(50)]
    firsts = await asyncio.gather(*(store.add("doc:1", ALICE, sid) for sid in sids))
    assert firsts.count(True) == 1
    lasts = await asyncio.gather(*(store.remove("doc:1", "alice", sid) for sid in sids))
    assert [last for last in lasts if last is not None] == [ALICE]


@pytest.mark.redis
async def test_processes_share_members(redis_store: StoreFactory) -> None:
    async with redis_store("n1") as one, redis_store("n2") as two:
        assert await one.add("doc:1", ALICE, "s1") is True
        assert await two.add("doc:1", ALICE, "s1") is False  # same sid on another node: another connection
        assert await two.members("doc:1") == [ALICE]
        assert await one.remove("doc:1", "alice", "s1") is None
        assert await two.remove("doc:1", "alice", "s1") == ALICE


@pytest.mark.redis
async def test_dead_node_is_reaped_once_by_racing_reapers(redis_store: StoreFactory) -> None:
    reaped: list[tuple[str, str]] = []

    async def record(room: str, member: PresenceMember) -> None:
        reaped.append((room, member.user_id))

    dead = redis_store("dead", ttl=0.5, interval=0.1)
    await dead.start()
    await dead.add("doc:1", ALICE, "s1")
    await dead.add("doc:1", ALICE, "s2")
    await dead.add("doc:2", BOB, "s3")
    survivor = redis_store("alive", ttl=0.5, interval=0.1)
    await survivor.add("doc:2", BOB, "s9")  # bob stays: his other connection is on a live node
    reapers = [redis_store(name, ttl=0.5, interval=0.1) for name in ("r1", "r2")]
    try:
        for reaper in reapers:
            await reaper.start(record)
        for task in dead._tasks:  # a crash: the heartbeat stops, nothing is cleaned up
            task.cancel()
        await wait_until(lambda: len(reaped) >= 1, "the dead node's members to be reaped", timeout=5)
        await asyncio.sleep(0.5)  # a few more reaper passes: nothing is reported twice
        assert reaped == [("doc:1", "alice")]
        assert await survivor.members("doc:1") == []
        assert await survivor.members("doc:2") == [BOB]
    finally:
        for store in [*reapers, survivor, dead]:
            await store.stop()


def test_interval_must_be_below_the_ttl(redis_store: StoreFactory) -> None:
    with pytest.raises(ValueError, match="interval"):
        redis_store(ttl=1, interval=1)
