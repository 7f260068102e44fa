"""On a real Redis Cluster (three masters, one replica each): two server processes and two emitters over
``redis+cluster://``, room-sharded channels with SSUBSCRIBE/SPUBLISH.

The cluster is started once for the module (about 3 s); each test has its own channel.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus.transport.sharding import DEFAULT_PARTITIONS, Partitions
from tests.clients import PyClient
from tests.conftest import SECRET
from tests.e2e.cluster import Cluster, environment
from tests.e2e.conftest import SIGNING_KEY
from tests.e2e.test_redis_cluster import USERS, Key, fenced, members, plan, send_all, team_of, ticks
from tests.redis_cluster import RedisClusterServers

pytestmark = pytest.mark.redis

Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    try:
        servers = RedisClusterServers(pathlib.Path(tmp_path_factory.mktemp("redis-cluster")))
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
async def on_cluster(
    redis_cluster: RedisClusterServers, tmp_path: pathlib.Path
) -> AsyncIterator[Callable[..., Awaitable[Cluster]]]:
    started: list[Cluster] = []

    async def start(**settings: str) -> Cluster:
        env = environment(
            redis_url=redis_cluster.url,
            redis_channel=f"e2e-{uuid.uuid4().hex[:8]}",
            redis_signing_key=SIGNING_KEY,
            jwt_secret=SECRET,
            **settings,
        )
        nodes = Cluster(tmp_path, env)
        started.append(nodes)
        return await nodes.start()

    yield start
    for nodes in started:
        await nodes.stop()
        print(nodes.logs())


async def test_every_client_gets_each_event_once_over_a_redis_cluster(
    on_cluster: Callable[..., Awaitable[Cluster]], py_client: Connect, token: Token
) -> None:
    nodes = await on_cluster()
    a, b = nodes.servers
    placements = [(user, (a, b)[i % 2]) for i, user in enumerate(USERS)]
    placements += [(user, (b, a)[i % 2]) for i, user in enumerate(USERS[:5])]  # a second tab on the other one
    clients = await asyncio.gather(*(py_client(server.url, token=token(user)) for user, server in placements))
    joins = await asyncio.gather(
        *(c.call("join_team", {"team_id": team_of(u)}) for (u, _), c in zip(placements, clients, strict=True))
    )
    assert all(ack["ok"] for ack in joins), joins

    # One room, two rooms (each member once), a user, emit_to_room and emit_to_all, from four processes.
    plans = {name: plan(name, 40) for name in nodes.sources}
    batches = {name: [op for op, _ in steps] + [{"op": "fence", "source": name}] for name, steps in plans.items()}
    results = await send_all(nodes, batches)
    assert all(r == {"ok": True} for rs in results.values() for r in rs), results
    await fenced(clients, len(nodes.sources))

    expected: dict[str, Counter[Key]] = {user: Counter() for user in USERS}
    for name, steps in plans.items():
        for op, recipients in steps:
            for user in recipients:
                expected[user][(name, op["event"]["seq"])] += 1
    wrong = {
        f"{user}@{server.name}": (ticks(c) - expected[user]) + (expected[user] - ticks(c))
        for (user, server), c in zip(placements, clients, strict=True)
        if ticks(c) != expected[user]
    }
    assert not wrong, f"{len(wrong)} of {len(clients)} clients got other events than their rooms'"
    stats = [await server.stats() for server in nodes.servers]
    assert all(s["redis_received"]["partition"] > 0 for s in stats), stats


async def test_a_process_without_members_in_a_room_receives_none_of_its_messages(
    on_cluster: Callable[..., Awaitable[Cluster]], stack: AsyncExitStack, py_client: Connect, token: Token
) -> None:
    nodes = await on_cluster()
    a, b = nodes.servers
    partitions = Partitions(nodes.channel, DEFAULT_PARTITIONS)
    # A user on B in a team whose partition is none of the partitions of the rooms A's user is in.
    here_user = USERS[0]
    taken = {partitions.of(f"team:{team_of(here_user)}"), partitions.of(f"user:{here_user}")}
    there_user = next(
        u for u in USERS if {partitions.of(f"team:{team_of(u)}"), partitions.of(f"user:{u}")}.isdisjoint(taken)
    )
    here = await py_client(a.url, token=token(here_user))
    there = await py_client(b.url, token=token(there_user))
    assert (await here.call("join_team", {"team_id": team_of(here_user)}))["ok"]
    assert (await there.call("join_team", {"team_id": team_of(there_user)}))["ok"]
    before = (await b.stats())["redis_received"]

    steps = [
        {"op": "emit_to_room", "room": f"team:{team_of(here_user)}", "event": {"source": name, "seq": n}}
        for n in range(20)
        for name in ("B", "async", "sync")
    ]
    batches: dict[str, list[dict[str, Any]]] = {
        name: [s for s in steps if s["event"]["source"] == name] for name in ("B", "async", "sync")
    }
    results = await send_all(nodes, batches)
    assert all(r == {"ok": True} for rs in results.values() for r in rs), results
    await here.inbox.wait_for("tick", 60, timeout=30)
    assert len(here.received("tick")) == 60
    after = (await b.stats())["redis_received"]
    assert after.get("partition", 0) == before.get("partition", 0), (before, after)
    assert there.received("tick") == []
    assert members(team_of(here_user))
