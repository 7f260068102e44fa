"""Property: over random schedules of broadcasts, drops, reconnects, joins and leaves, every client ends with exactly
the events it should have, in order, without gaps or duplicates, or was told ``recovered: false``.

A model follows the schedule: an event is owed to a client in its room when sent, delivered live when connected and
on a recovered reconnect otherwise. A join with the last position the client saw must give exactly the events after
it (``recovered``) or, when more than the room's history were missed, none (``recovered: false``).
"""

from __future__ import annotations

import itertools
import pathlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus, JWTAuth
from tests.clients import PyClient
from tests.conftest import SECRET
from tests.history.rooms import FeedRoom, PostEvent
from tests.redis_server import RedisServer
from tests.servers import ThreadedServer
from tests.waiting import wait_until

USERS = ("alice", "bob")
FEEDS = 2
counter = itertools.count()

ops = st.lists(
    st.one_of(
        st.tuples(st.just("broadcast"), st.integers(0, FEEDS - 1)),
        st.tuples(st.sampled_from(["drop", "reconnect"]), st.integers(0, len(USERS) - 1)),
        st.tuples(st.sampled_from(["join", "leave"]), st.integers(0, len(USERS) - 1), st.integers(0, FEEDS - 1)),
    ),
    max_size=14,
)


@dataclass
class Model:
    """What one client is owed."""

    connected: bool = True
    rooms: set[str] = field(default_factory=set)
    live: list[int] = field(default_factory=list)  # event numbers it must receive live (or replayed), in order
    away: list[int] = field(default_factory=list)  # owed while dropped: replayed on a recovered reconnect
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # room -> last position it saw


def world(redis_url: str | None, **more: Any) -> Iterator[tuple[EventBus, ThreadedServer, JWTAuth]]:
    auth = JWTAuth(secret=SECRET, algorithms=["HS256"])
    options: dict[str, Any] = {"redis_url": redis_url, "redis_channel": f"prop-{uuid.uuid4().hex[:8]}", **more}
    bus = EventBus(auth=auth, rooms=[FeedRoom], recovery_window=60, **(options if redis_url else {}))
    with ThreadedServer(bus.asgi_app()) as running:
        yield bus, running, auth


@pytest.fixture(scope="module")
def memory_world() -> Iterator[tuple[EventBus, ThreadedServer, JWTAuth]]:
    yield from world(None)


@pytest.fixture(scope="module")
def redis_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EventBus, ThreadedServer, JWTAuth]]:
    server = RedisServer(pathlib.Path(tmp_path_factory.mktemp("redis-prop")))
    server.start()
    try:
        yield from world(server.url)
    finally:
        server.stop()


async def run_schedule(bus: EventBus, url: str, auth: JWTAuth, schedule: list[tuple[Any, ...]]) -> None:
    feeds = [f"p{next(counter)}x{i}" for i in range(FEEDS)]
    names = [FeedRoom(feed_id=feed).name for feed in feeds]
    sent: dict[str, list[int]] = {name: [] for name in names}  # room -> event numbers, offset order
    clients = [await PyClient(url, token=auth.issue(user)).connect() for user in USERS]
    models = [Model() for _ in USERS]
    numbers = itertools.count(1)
    try:
        for op in schedule:
            await step(bus, op, clients, models, feeds, names, sent, numbers)
        for index, (client, model) in enumerate(zip(clients, models, strict=True)):
            if not model.connected:
                await step(bus, ("reconnect", index), clients, models, feeds, names, sent, numbers)
            await client.fence(bus)
            got = [payload["n"] for payload, positions in client.received("post") if payload["feed_id"] in feeds]
            assert got == model.live, (USERS[index], got, model.live, schedule)
    finally:
        for client in clients:
            await client.close()


async def step(
    bus: EventBus,
    op: tuple[Any, ...],
    clients: list[PyClient],
    models: list[Model],
    feeds: list[str],
    names: list[str],
    sent: dict[str, list[int]],
    numbers: Iterator[int],
) -> None:
    kind = op[0]
    if kind == "broadcast":
        name, n = names[op[1]], next(numbers)
        sent[name].append(n)
        for model in models:
            if name in model.rooms:
                (model.live if model.connected else model.away).append(n)
        await bus.broadcast(PostEvent(feed_id=feeds[op[1]], n=n))
        return
    client, model = clients[op[1]], models[op[1]]
    if kind == "drop" and model.connected:
        old = client.sid
        await client.drop()
        await wait_until(lambda: old not in bus.default_app._table, "the server noticed the drop")
        model.connected = False
    elif kind == "reconnect" and not model.connected:
        await client.reconnect()
        assert client.recovered, "a reconnect within the window recovers"
        model.connected = True
        model.live += model.away
        model.away = []
    elif kind in ("join", "leave") and model.connected:
        name = names[op[2]]
        if kind == "leave":
            assert (await client.call("leave_feed", {"feed_id": feeds[op[2]]}))["ok"]
            model.rooms.discard(name)
            return
        await client.fence(bus)  # the positions of everything sent so far have arrived
        for _payload, positions in client.received("post"):
            model.seen.update({room: at for room, at in positions.items() if room in sent})
        since = model.seen.get(name)
        ack = await client.call("join_feed", {"feed_id": feeds[op[2]], "since": since})
        assert ack["position"]["offset"] == len(sent[name])
        if since is None:
            assert ack["recovered"] is False
        else:
            missed = sent[name][since["offset"] :]
            assert ack["recovered"] is (len(missed) <= FeedRoom.history), (ack, missed)
            assert [p["data"]["n"] for p in ack["publications"]] == (missed if ack["recovered"] else [])
        model.seen[name] = ack["position"]
        model.rooms.add(name)


@pytest.fixture(scope="module")
def sharded_redis_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EventBus, ThreadedServer, JWTAuth]]:
    server = RedisServer(pathlib.Path(tmp_path_factory.mktemp("redis-prop-sharded")))
    server.start()
    try:
        yield from world(server.url, redis_sharding=True, redis_partitions=4)
    finally:
        server.stop()


def check(world_: tuple[EventBus, ThreadedServer, JWTAuth], schedule: list[tuple[Any, ...]]) -> None:
    bus, running, auth = world_
    running.run(run_schedule(bus, running.url, auth, schedule), timeout=60)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=ops)
def test_every_client_gets_exactly_its_events_in_memory(
    memory_world: tuple[EventBus, ThreadedServer, JWTAuth], schedule: list[tuple[Any, ...]]
) -> None:
    check(memory_world, schedule)


@pytest.mark.redis
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=ops)
def test_every_client_gets_exactly_its_events_on_redis(
    redis_world: tuple[EventBus, ThreadedServer, JWTAuth], schedule: list[tuple[Any, ...]]
) -> None:
    check(redis_world, schedule)


@pytest.mark.redis
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=ops)
def test_every_client_gets_exactly_its_events_on_sharded_redis(
    sharded_redis_world: tuple[EventBus, ThreadedServer, JWTAuth], schedule: list[tuple[Any, ...]]
) -> None:
    # Room-sharded channels (issue 17): the partition subscriptions, the fence and the bookkeeping of rooms with
    # no local member (4 partitions, so rooms share them) keep the same guarantees.
    check(sharded_redis_world, schedule)
