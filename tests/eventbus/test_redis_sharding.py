"""Room-sharded channels on one redis-server: a process listens only to the partitions of rooms it serves and to the
own channels of the users it holds, and neither a join nor a connect misses what is published after its ack
(properties, racing an Emitter's broadcasts)."""

from __future__ import annotations

import asyncio
import itertools
import pathlib
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import Emitter, EventBus, JWTAuth
from eventbus.settings import EventBusSettings
from eventbus.transport.redis_manager import RedisManager
from eventbus.transport.sharding import Partitions, Subscriptions
from events import Room
from tests.clients import PyClient
from tests.conftest import SECRET
from tests.redis_server import RedisServer
from tests.sample import NoticeEvent
from tests.servers import ThreadedServer
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

PARTITIONS = 4
SHARDED = EventBusSettings(redis_sharding=True, redis_partitions=PARTITIONS)


class ShardRoom(Room, prefix="shard", public=True):
    shard_id: str


def key_outside(channel: str, rooms: list[str]) -> str:
    """A `ShardRoom` key whose room shares no partition of ``channel`` with ``rooms``."""
    partitions = Partitions(channel, PARTITIONS)
    taken = {partitions.of(room) for room in rooms}
    return next(f"k{n}" for n in itertools.count() if partitions.of(f"shard:k{n}") not in taken)


def manager_of(bus: EventBus) -> RedisManager:
    assert isinstance(bus.sio.manager, RedisManager)
    return bus.sio.manager


def per_channel_state(bus: EventBus) -> dict[str, list[str]]:
    """Every structure a process keeps per Redis channel, by its name: the channels in it but the control one."""
    manager = manager_of(bus)
    subscriptions, log = manager.subscriptions, manager.recovery
    structures = {
        "subscriptions.rooms": subscriptions.rooms,
        "subscriptions.confirmations": subscriptions.confirmations,
        "subscriptions.active": subscriptions.active,
        "subscriptions.waiters": subscriptions._waiters,
        "manager.replayed_upto": manager._replayed_upto,
        "recovery.heads": getattr(log, "heads", {}),
        "recovery.settled": getattr(log, "_settled", {}),
    }
    return {name: sorted(set(keys) - {manager.channel}) for name, keys in structures.items()}


@pytest.fixture
def sharded_bus(
    jwt_auth: JWTAuth, serve: Callable[[Any], Awaitable[str]]
) -> Callable[..., Awaitable[tuple[EventBus, str]]]:
    async def start(redis_url: str, channel: str, **settings: Any) -> tuple[EventBus, str]:
        bus = EventBus(
            auth=jwt_auth,
            rooms=[ShardRoom],
            redis_url=redis_url,
            redis_channel=channel,
            redis_sharding=True,
            redis_partitions=PARTITIONS,
            **settings,
        )
        return bus, await serve(bus.asgi_app())

    return start


async def test_a_process_receives_only_the_partitions_of_rooms_it_serves(
    redis_server: RedisServer, sharded_bus: Any, stack: AsyncExitStack, token: Callable[..., str]
) -> None:
    channel = f"shard-{uuid.uuid4().hex[:6]}"
    (bus_a, url_a), (bus_b, url_b) = (
        await sharded_bus(redis_server.url, channel),
        await sharded_bus(redis_server.url, channel),
    )
    # Each process holds its users' rooms too: alice's room shares no partition with any room of process B.
    here = key_outside(channel, ["user:bob"])
    there = key_outside(channel, ["user:alice", f"shard:{here}"])
    alice = await stack.enter_async_context(_client(url_a, token("alice")))
    bob = await stack.enter_async_context(_client(url_b, token("bob")))
    assert (await alice.call("join_shard", {"shard_id": here}))["ok"]
    assert (await bob.call("join_shard", {"shard_id": there}))["ok"]
    worker = Emitter(redis_server.url, channel=channel, settings=SHARDED)
    stack.push_async_callback(worker.close)

    for n in range(10):
        await worker.emit_to_room(ShardRoom(shard_id=here), NoticeEvent(text=f"a{n}"))
        await bus_b.emit_to_room(ShardRoom(shard_id=here), NoticeEvent(text=f"b{n}"))
    await alice.inbox.wait_for("notice", 20)
    await alice.fence(bus_a)
    assert sorted(n["text"] for n in alice.received("notice")) == sorted(
        [f"a{n}" for n in range(10)] + [f"b{n}" for n in range(10)]
    )
    # Process B has no member in alice's room and shares no partition with it: not one of its messages reached B.
    assert manager_of(bus_b).received["partition"] == 0
    assert manager_of(bus_a).received["partition"] == 20 + 1  # and alice's fence through the partition
    assert manager_of(bus_a).received["unserved"] == 0
    assert bob.received("notice") == []

    # The partition is dropped with its last local room, and taken again by the next join.
    redis = redis_server.client()
    partition = Partitions(channel, PARTITIONS).of(ShardRoom(shard_id=here).name)
    assert redis.pubsub_numsub(partition) == [(partition.encode(), 1)]
    assert (await alice.call("leave_shard", {"shard_id": here}))["ok"]
    await wait_until(lambda: redis.pubsub_numsub(partition) == [(partition.encode(), 0)], "the unsubscription")
    assert (await alice.call("join_shard", {"shard_id": here}))["ok"]
    assert redis.pubsub_numsub(partition) == [(partition.encode(), 1)]


async def test_a_user_channel_reaches_only_the_processes_holding_that_user(
    redis_server: RedisServer, sharded_bus: Any, py_client: Any, stack: AsyncExitStack, token: Callable[..., str]
) -> None:
    channel = f"user-{uuid.uuid4().hex[:6]}"
    (bus_a, url_a), (bus_b, url_b) = (
        await sharded_bus(redis_server.url, channel),
        await sharded_bus(redis_server.url, channel),
    )
    alice_a = await py_client(url_a, token=token("alice"))
    alice_b = await py_client(url_b, token=token("alice"))
    bob = await py_client(url_b, token=token("bob"))
    redis = redis_server.client()
    alice_channel, bob_channel = f"{channel}#user:alice", f"{channel}#user:bob"
    # Subscribed before the connects were acknowledged: no waiting here.
    assert redis.pubsub_numsub(alice_channel, bob_channel) == [(alice_channel.encode(), 2), (bob_channel.encode(), 1)]
    worker = Emitter(redis_server.url, channel=channel, settings=SHARDED)
    stack.push_async_callback(worker.close)

    for n in range(5):
        await worker.emit_to_user("alice", NoticeEvent(text=f"a{n}"))
        await worker.emit_to_user("bob", NoticeEvent(text=f"b{n}"))
    await bus_a.emit_to_user("alice", NoticeEvent(text="not on a"), exclude=alice_a.sid)
    for client, bus, count in ((alice_a, bus_a, 5), (alice_b, bus_b, 6), (bob, bus_b, 5)):
        await client.inbox.wait_for("notice", count)
        await client.fence(bus)  # and nothing more after them
    alice_texts = [f"a{n}" for n in range(5)]
    assert [n["text"] for n in alice_a.received("notice")] == alice_texts
    assert [n["text"] for n in alice_b.received("notice")] == [*alice_texts, "not on a"]
    assert [n["text"] for n in bob.received("notice")] == [f"b{n}" for n in range(5)]
    # Process A holds no connection of bob: not one of his messages reached it, and no partition was needed.
    received_a, received_b = manager_of(bus_a).received, manager_of(bus_b).received
    # Each fence is a message on the client's user channel, received by every process subscribed to it.
    assert (received_a["dedicated"], received_a["partition"], received_a["unserved"]) == (6 + 2, 0, 0)
    assert (received_b["dedicated"], received_b["partition"], received_b["unserved"]) == (11 + 3, 0, 0)

    # Each process drops alice's channel with its last connection of hers; nothing of it is left behind.
    await alice_b.close()
    await wait_until(lambda: redis.pubsub_numsub(alice_channel) == [(alice_channel.encode(), 1)], "B unsubscribing")
    await alice_a.close()
    await wait_until(lambda: redis.pubsub_numsub(alice_channel) == [(alice_channel.encode(), 0)], "A unsubscribing")
    for bus in (bus_a, bus_b):
        subscriptions = manager_of(bus).subscriptions
        assert subscriptions is not None
        assert alice_channel not in subscriptions.active
        assert alice_channel not in subscriptions.rooms
    assert redis.pubsub_numsub(bob_channel) == [(bob_channel.encode(), 1)]


def _client(url: str, token: str) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def connected() -> Any:
        client = PyClient(url, token=token)
        await client.connect()
        try:
            yield client
        finally:
            await client.close()

    return connected()


# The property: a join racing an Emitter's broadcasts to the room gets every one published after its ack.

counter = itertools.count()
schedules = st.tuples(
    st.integers(0, 2 * PARTITIONS - 1),  # which room: half of them share a partition with another
    st.lists(st.integers(0, 4), min_size=1, max_size=6),  # loop turns before each broadcast
    st.integers(0, 4),  # loop turns before the join starts
)


RaceWorld = tuple[EventBus, ThreadedServer, JWTAuth, Emitter]


@pytest.fixture(scope="module")
def race_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaceWorld]:
    server = RedisServer(pathlib.Path(tmp_path_factory.mktemp("redis-shard-race")))
    server.start()
    channel = f"race-{uuid.uuid4().hex[:6]}"
    auth = JWTAuth(secret=SECRET, algorithms=["HS256"])
    bus = EventBus(
        auth=auth,
        rooms=[ShardRoom],
        redis_url=server.url,
        redis_channel=channel,
        redis_sharding=True,
        redis_partitions=PARTITIONS,
    )
    slow_subscriptions(manager_of(bus))
    # One Emitter for every example (it connects on its first send, in the server's loop): a new one per example
    # would add its connection's set-up to each of the 100.
    worker = Emitter(server.url, channel=channel, settings=SHARDED)
    try:
        with ThreadedServer(bus.asgi_app()) as running:
            yield bus, running, auth, worker
            running.run(worker.close(), timeout=10)
    finally:
        server.stop()


SUBSCRIBE_DELAY = 0.005


def slow_subscriptions(manager: RedisManager) -> None:
    """Hold each SUBSCRIBE/UNSUBSCRIBE for `SUBSCRIBE_DELAY` before it leaves, as a Redis farther away than the client.

    On loopback Redis has the SUBSCRIBE long before a client can react to its ack, so an ack that did not wait for
    the confirmation would pass unnoticed; with the delay, a message published after such an ack would be missed.
    """
    subscriptions = manager.subscriptions
    assert subscriptions is not None
    send = subscriptions._command

    async def later(name: str, channel: str) -> None:
        await asyncio.sleep(SUBSCRIBE_DELAY)
        await send(name, channel)

    subscriptions._command = later  # type: ignore[method-assign]


async def acked_race(
    client: PyClient,
    send: Callable[[str], Awaitable[object]],
    enter: Callable[[], Awaitable[object]],
    gaps: list[int],
    before_enter: int,
) -> None:
    """``send`` a broadcast after each gap of loop turns while ``enter`` (a join, a connect) runs: ``client`` gets
    every broadcast published after ``enter`` returned (its ack), and none twice."""
    tag = f"x{next(counter)}"
    acked = False
    after_ack: list[str] = []

    async def publish() -> None:
        for n, gap in enumerate(gaps):
            for _ in range(gap):
                await asyncio.sleep(0)
            published_after_ack = acked
            await send(f"{tag}:{n}")
            if published_after_ack:
                after_ack.append(f"{tag}:{n}")

    async def entering() -> None:
        nonlocal acked
        for _ in range(before_enter):
            await asyncio.sleep(0)
        await enter()
        acked = True

    await asyncio.gather(publish(), entering())
    await send(f"{tag}:end")
    after_ack.append(f"{tag}:end")
    # Woken by each arrival (not polled): 100 examples each wait for this one.
    while not any(n["text"] == f"{tag}:end" for n in client.received("notice")):
        await client.inbox.wait_for("notice", len(client.received("notice")) + 1, timeout=10)
    got = [n["text"] for n in client.received("notice") if n["text"].startswith(f"{tag}:")]
    assert len(got) == len(set(got)), got  # no duplicates
    assert set(after_ack) <= set(got), (after_ack, got, gaps, before_enter)


async def race(world: RaceWorld, schedule: tuple[int, list[int], int]) -> None:
    _bus, running, auth, worker = world
    room_index, gaps, before_join = schedule
    room = ShardRoom(shard_id=f"r{room_index}")
    client = await PyClient(running.url, token=auth.issue("alice")).connect()

    async def join() -> None:
        assert (await client.call("join_shard", {"shard_id": room.shard_id}))["ok"]

    try:
        await acked_race(
            client, lambda text: worker.emit_to_room(room, NoticeEvent(text=text)), join, gaps, before_join
        )
    finally:
        await client.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=schedules)
def test_a_join_gets_every_broadcast_published_after_its_ack(
    race_world: RaceWorld, schedule: tuple[int, list[int], int]
) -> None:
    race_world[1].run(race(race_world, schedule), timeout=30)


async def connect_race(world: RaceWorld, gaps: list[int], before_connect: int) -> None:
    _bus, running, auth, worker = world
    user = f"racer{next(counter)}"  # held by no process yet: this connect subscribes its channel
    client = PyClient(running.url, token=auth.issue(user))
    try:
        await acked_race(
            client, lambda text: worker.emit_to_user(user, NoticeEvent(text=text)), client.connect, gaps, before_connect
        )
    finally:
        await client.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=schedules.map(lambda schedule: schedule[1]), before_connect=st.integers(0, 4))
def test_a_connect_gets_every_message_to_its_user_published_after_its_ack(
    race_world: RaceWorld, gaps: list[int], before_connect: int
) -> None:
    race_world[1].run(connect_race(race_world, gaps, before_connect), timeout=30)


def test_partition_of_a_room_is_the_same_everywhere() -> None:
    # CRC-32 of the name, so every process and Emitter agrees (Python's hash() is salted per process).
    partitions = Partitions("eventbus", 64)
    assert partitions.of("chat:42") == f"eventbus#{zlib.crc32(b'chat:42') % 64}"
    assert partitions.channel_for({"method": "emit", "room": "chat:42"}) == partitions.of("chat:42")
    assert partitions.channel_for({"method": "emit", "room": ["chat:42", "chat:7"]}) == "eventbus"
    assert partitions.channel_for({"method": "emit", "room": None}) == "eventbus"
    assert partitions.channel_for({"method": "emit", "room": "Kq3x9w0AAAB"}) == "eventbus"  # a socket id
    assert partitions.channel_for({"method": "emit", "room": "chat:42", "callback": [1]}) == "eventbus"
    assert partitions.channel_for({"method": "enter_room", "room": "chat:42"}) == "eventbus"


def test_user_rooms_have_channels_of_their_own_unless_told_otherwise() -> None:
    partitions = Partitions("eventbus", 64)
    assert partitions.of("user:42") == "eventbus#user:42"
    assert partitions.channel_for({"method": "emit", "room": ["user:42"]}) == "eventbus#user:42"
    assert partitions.split(["user:42", "chat:42", "user:7"]) == {
        "eventbus#user:42": ["user:42"],
        partitions.of("chat:42"): ["chat:42"],
        "eventbus#user:7": ["user:7"],
    }
    # A brace would move a cluster hash tag off the channel's own name: such a room keeps its partition.
    assert partitions.of("user:a{b}") in partitions.names
    assert Partitions("eventbus", 64, dedicated=()).of("user:42") in partitions.names
    assert Partitions("eventbus", 64, dedicated=["doc"]).of("doc:7") == "eventbus#doc:7"
    assert partitions.owns("eventbus#user:42")
    assert partitions.owns("eventbus#3")
    assert not partitions.owns("eventbus")
    assert not partitions.owns("other#user:42")


class RecordingPubsub:
    """Stands in for the listener's pub/sub connection: records what is sent; Redis's replies are the test's."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def subscribe(self, channel: str) -> None:
        self.sent.append(("subscribe", channel))

    async def unsubscribe(self, channel: str) -> None:
        self.sent.append(("unsubscribe", channel))


async def turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_connects_of_several_users_wait_for_their_confirmations_together() -> None:
    # Pure logic (over the wire: the connect property above): one Redis round trip per connect, not one after the
    # other; each returns only once its own channel is confirmed.
    subscriptions = Subscriptions(Partitions("app", 4))
    pubsub = subscriptions.pubsub = RecordingPubsub()
    wants = [asyncio.create_task(subscriptions.want("/", f"user:{n}")) for n in range(3)]
    await turns()
    assert pubsub.sent == [("subscribe", f"app#user:{n}") for n in range(3)]
    subscriptions.confirmed("app#user:1")
    await turns()
    assert [want.done() for want in wants] == [False, True, False]
    subscriptions.confirmed("app#user:0")
    subscriptions.confirmed("app#user:2")
    await asyncio.gather(*wants)
    assert subscriptions.active == {f"app#user:{n}" for n in range(3)}


async def test_a_channel_released_before_redis_confirmed_it_is_dropped_on_the_confirmation() -> None:
    # The user's only connection went away while its channel's SUBSCRIBE was on its way: nothing may stay subscribed.
    subscriptions = Subscriptions(Partitions("app", 4))
    pubsub = subscriptions.pubsub = RecordingPubsub()
    connecting = asyncio.create_task(subscriptions.want("/", "user:42"))
    await turns()
    subscriptions.released("/", "user:42")
    await turns()
    assert pubsub.sent == [("subscribe", "app#user:42")]  # not confirmed yet: nothing to unsubscribe
    subscriptions.confirmed("app#user:42")
    await connecting
    await turns()
    assert pubsub.sent == [("subscribe", "app#user:42"), ("unsubscribe", "app#user:42")]
    assert subscriptions.active == frozenset()
    assert subscriptions.rooms == {}


rooms_of_sockets = st.dictionaries(
    st.sampled_from([f"s{n}" for n in range(6)]),
    st.sets(st.sampled_from([f"shard:{n}" for n in range(8)]), max_size=4),
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(
    membership=rooms_of_sockets,
    targets=st.sets(st.sampled_from([f"shard:{n}" for n in range(8)]), min_size=1),
    skip=st.sets(st.sampled_from([f"s{n}" for n in range(6)]), max_size=2),
    order=st.randoms(),
)
def test_a_send_split_over_partitions_reaches_each_socket_once(
    membership: dict[str, set[str]], targets: set[str], skip: set[str], order: Any
) -> None:
    # What the listener does with the parts of one send (eventbus.transport.publishing), in any arrival order.
    manager = RedisManager("redis://127.0.0.1:1/0", channel="split", sharding=True, partitions=PARTITIONS)
    for sid, rooms in membership.items():
        for room in rooms:
            manager.basic_enter_room(sid, "/", room, eio_sid=f"e-{sid}")
    parts = list(Partitions("split", PARTITIONS).split(sorted(targets)).values())
    order.shuffle(parts)
    served: Counter[str] = Counter()
    for rooms in parts:
        part = {"method": "emit", "namespace": "/", "room": rooms, "skip_sid": sorted(skip), "split": "host:1"}
        manager._once_per_split(part)
        served.update({sid for sid, _ in manager.get_participants("/", rooms)} - set(part["skip_sid"]))
    expected = {sid for sid, rooms in membership.items() if rooms & targets} - skip
    assert served == Counter(expected)


async def test_the_cluster_listener_polls_on_past_a_node_connection_redis_py_just_closed() -> None:
    # Pure logic (the over-the-wire check is in tests/e2e/test_redis_cluster_sharded.py, where the race is rare):
    # redis-py's round robin can hand out, once, a node connection it closed after that node's last SUNSUBSCRIBE.
    class Pubsub:
        def __init__(self) -> None:
            self.replies: list[Any] = [
                {"type": "smessage", "data": b"1"},
                RuntimeError("pubsub connection not set: did you forget to call subscribe() or psubscribe()?"),
                None,
                {"type": "smessage", "data": b"2"},
                RuntimeError("something else"),
            ]

        async def get_sharded_message(self, timeout: float) -> Any:
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

    received = RedisManager._received(type("Cluster", (), {"cluster": True})(), Pubsub())
    assert [(await anext(received))["data"] for _ in range(2)] == [b"1", b"2"]
    with pytest.raises(RuntimeError, match="something else"):
        await anext(received)


async def test_what_a_process_keeps_per_channel_goes_with_its_last_user(
    redis_server: RedisServer,
    jwt_auth: JWTAuth,
    serve: Callable[[Any], Awaitable[str]],
    py_client: Any,
    token: Callable[..., str],
) -> None:
    # One channel per user: kept for every user ever connected, a process's memory would grow without bound.
    bus = EventBus(
        auth=jwt_auth,
        rooms=[ShardRoom],
        redis_url=redis_server.url,
        redis_channel=f"bounded-{uuid.uuid4().hex[:6]}",
        redis_sharding=True,
        redis_partitions=PARTITIONS,
        recovery_window=2,
    )
    url = await serve(bus.asgi_app())
    empty = per_channel_state(bus)
    users = [f"u{n}" for n in range(12)]
    clients = [await py_client(url, token=token(user)) for user in users]
    for user in users:
        await bus.emit_to_user(user, NoticeEvent(text=f"hi {user}"))
    for client in clients:
        await client.inbox.wait_for("notice", 1)
    assert len(per_channel_state(bus)["subscriptions.rooms"]) == len(users)
    for client in clients[: len(users) // 2]:
        await client.drop()
    for client in clients[len(users) // 2 :]:
        await client.close()
    await wait_until(lambda: per_channel_state(bus) == empty, "the process to keep nothing of users gone", timeout=5)


async def test_a_fence_comes_after_emits_still_on_their_way_through_redis(
    redis_server: RedisServer, sharded_bus: Any, py_client: Any, token: Callable[..., str]
) -> None:
    # With recovery on, an emit is delivered from the subscription, by the process that sent it too: a fence sent
    # locally could overtake it. Through Redis on the channels of alice's rooms (her user's, a shard's), it cannot.
    bus, url = await sharded_bus(redis_server.url, f"fence-{uuid.uuid4().hex[:6]}", recovery_window=60)
    manager = manager_of(bus)
    deliver = manager._deliver_logged

    async def later(*args: Any, **kwargs: Any) -> None:
        # The listener takes a while over each one, as under load: the emit is on its way when the fence is sent.
        await asyncio.sleep(SUBSCRIBE_DELAY)
        await deliver(*args, **kwargs)

    manager._deliver_logged = later  # type: ignore[method-assign]
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_shard", {"shard_id": "1"}))["ok"]
    for n in range(20):
        await bus.emit_to_user("alice", NoticeEvent(text=f"u{n}"))
        await bus.emit_to_room(ShardRoom(shard_id="1"), NoticeEvent(text=f"s{n}"))
        await alice.fence(bus)
        assert [notice["text"] for notice in alice.received("notice")][-2:] == [f"u{n}", f"s{n}"]
