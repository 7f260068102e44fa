"""On a real Redis Cluster (three masters, one replica each): two server processes and two emitters over
``redis+cluster://``, room-sharded channels with SSUBSCRIBE/SPUBLISH.

The cluster is started once for the module (about 3 s); each test has its own channel.
"""

from __future__ import annotations

import asyncio
import itertools
import pathlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis

from eventbus import Emitter, EventBus, EventBusSettings, JWTAuth
from eventbus.transport.channel import CLUSTER_REDIS_PY
from eventbus.transport.redis_manager import RedisManager
from eventbus.transport.sharding import DEFAULT_PARTITIONS, Partitions
from tests.clients import JSClient, PyClient, lose_replay_after
from tests.conftest import SECRET
from tests.e2e.cluster import Cluster, environment
from tests.e2e.conftest import SIGNING_KEY
from tests.e2e.model import TeamRoom, TickEvent
from tests.e2e.test_presence_cluster import INTERVAL, TTL, members_of_a_killed_process_leave_once
from tests.e2e.test_redis_cluster import USERS, members, send_all, send_plans, team_of, ticks
from tests.eventbus.test_redis_sharding import per_channel_state
from tests.history.rooms import DeskRoom, FeedDigestEvent, FeedRoom, PostEvent
from tests.presence_scenario import ROOM
from tests.redis_cluster import RedisClusterServers
from tests.sample import NoticeEvent
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.redis,
    # The `cluster` extra's floor: `make test-lowest` runs the core floor (redis-py 5.0.8), where the bus refuses
    # redis+cluster:// (tests/eventbus/test_redis_url.py checks that refusal under any version).
    pytest.mark.skipif(
        tuple(map(int, redis.__version__.split(".")[:2])) < CLUSTER_REDIS_PY,
        reason=f"redis+cluster:// needs redis-py 8.0 (the cluster extra); {redis.__version__} is installed",
    ),
]

Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
Serve = Callable[[Any], Awaitable[str]]
TwoBuses = Callable[..., Awaitable[tuple[dict[str, Any], list[EventBus], list[str]]]]


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

    async def start(*, emitters: bool = True, **settings: str) -> Cluster:
        env = environment(
            redis_url=redis_cluster.url,
            redis_channel=f"e2e-{uuid.uuid4().hex[:8]}",
            redis_signing_key=SIGNING_KEY,
            jwt_secret=SECRET,
            **settings,
        )
        nodes = Cluster(tmp_path, env)
        started.append(nodes)
        return await nodes.start(emitters=emitters)

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
    wrong, _ = await send_plans(nodes, clients, placements, 40)
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


def feeds_in_two_partitions(partitions: Partitions, servers: RedisClusterServers) -> tuple[str, str]:
    """Two feed ids whose rooms' partitions are on different masters."""
    client = servers.client()
    owner = {feed: client.get_node_from_key(partitions.of(f"feed:{feed}")).port for feed in map(str, range(64))}
    first = "0"
    return first, next(feed for feed, port in owner.items() if port != owner[first])


@pytest.fixture
def two_buses(redis_cluster: RedisClusterServers, jwt_auth: JWTAuth, serve: Serve) -> TwoBuses:
    """``options, buses, urls = await two_buses(prefix, rooms, **settings)``: two buses served in this process
    on a channel of their own of the cluster; ``options`` also configures an Emitter."""

    async def start(prefix: str, rooms: list[Any], **settings: Any) -> tuple[dict[str, Any], list[EventBus], list[str]]:
        options = {
            "redis_url": redis_cluster.url,
            "redis_channel": f"{prefix}-{uuid.uuid4().hex[:8]}",
            "redis_signing_key": SIGNING_KEY,
        }
        buses = [EventBus(auth=jwt_auth, rooms=rooms, **options, **settings) for _ in range(2)]
        return options, buses, [await serve(bus.asgi_app()) for bus in buses]

    return start


async def test_history_rooms_keep_their_order_and_positions_on_a_redis_cluster(
    redis_cluster: RedisClusterServers, stack: AsyncExitStack, two_buses: TwoBuses, py_client: Connect, token: Token
) -> None:
    options, buses, (url_a, url_b) = await two_buses("history", [FeedRoom, DeskRoom])
    channel = options["redis_channel"]
    emitter = Emitter(options["redis_url"], channel=channel, signing_key=SIGNING_KEY)
    stack.push_async_callback(emitter.close)
    partitions = Partitions(channel, DEFAULT_PARTITIONS)
    one, two = feeds_in_two_partitions(partitions, redis_cluster)
    taken = {partitions.of(f"feed:{one}"), partitions.of(f"feed:{two}")}
    desk = next(desk for desk in map(str, range(64)) if partitions.of(f"desk:{desk}") not in taken)
    alice = await py_client(url_a, token=token("alice"))
    bob = await py_client(url_b, token=token("bob"))
    carol = await py_client(url_a, token=token("carol"))  # in a room without history only, on the sender
    for feed in (one, two):
        assert (await alice.call("join_feed", {"feed_id": feed}))["position"]["offset"] == 0
    assert (await bob.call("join_feed", {"feed_id": one}))["position"]["offset"] == 0
    for client in (alice, carol):
        assert (await client.call("join_desk", {"desk_id": desk}))["ok"]

    await buses[0].broadcast(PostEvent(feed_id=one, n=1))
    await buses[1].broadcast(PostEvent(feed_id=two, n=2))
    # Three partitions: one script per history partition, a plain SPUBLISH for the desk's; each socket gets it once.
    await buses[0].broadcast(FeedDigestEvent(feeds=[one, two], desks=[desk], n=3))
    await emitter.broadcast(PostEvent(feed_id=one, n=4))
    posts = await bob.inbox.wait_for("post", 2)
    assert [(p["n"], at[f"feed:{one}"]["offset"]) for p, at in posts] == [(1, 1), (4, 3)]
    [(digest, at)] = await bob.inbox.wait_for("feed_digest")
    assert (digest["n"], at[f"feed:{one}"]["offset"]) == (3, 2)
    await alice.inbox.wait_for("post", 3)
    assert [p["n"] for p, _ in alice.received("feed_digest")] == [3]
    # Same arguments for every recipient of an event with history rooms: the desk's part carries no position.
    assert [list(args) for args in await carol.inbox.wait_for("feed_digest")] == [
        [{"feeds": [one, two], "desks": [desk], "n": 3}, {}]
    ]
    for feed, expected in ((one, [1, 3, 4]), (two, [2, 3])):
        reply = await alice.call("history", {"room": f"feed:{feed}", "limit": 5})
        assert [p["data"]["n"] for p in reply["data"]["publications"]] == expected
        assert [p["offset"] for p in reply["data"]["publications"]] == list(range(1, len(expected) + 1))
        keys = buses[0].sio.manager.histories["/"].keys(f"feed:{feed}")
        assert redis_cluster.client().exists(*keys) == 2, keys
        # The room's stream, its meta and the partition channel its messages are SPUBLISHed on share one slot.
        partition = Partitions(channel, DEFAULT_PARTITIONS).of(f"feed:{feed}")
        assert {redis_cluster.client().keyslot(name) for name in [*keys, partition]} == {
            redis_cluster.client().keyslot(partition)
        }, keys

    # Positions go on: bob comes back on the other process with his last position and gets exactly what he missed.
    last = posts[-1][1][f"feed:{one}"]
    await bob.close()
    for n in (5, 6):
        await buses[n % 2].broadcast(PostEvent(feed_id=one, n=n))
    again = await py_client(url_a, token=token("bob"))
    ack = await again.call("join_feed", {"feed_id": one, "since": last})
    assert ack["recovered"] is True
    assert [p["data"]["n"] for p in ack["publications"]] == [5, 6]
    assert ack["position"]["offset"] == 5


async def test_presence_union_first_last_and_a_killed_process_on_a_redis_cluster(
    redis_cluster: RedisClusterServers, on_cluster: Callable[..., Awaitable[Cluster]], py_client: Connect, token: Token
) -> None:
    nodes = await on_cluster(emitters=False, presence_ttl=str(TTL), presence_interval=str(INTERVAL))
    await members_of_a_killed_process_leave_once(nodes, py_client, token)
    # The room's presence keys sit in the slot of its partition channel, not in one slot for the whole application.
    room = ROOM
    partition = Partitions(nodes.channel, DEFAULT_PARTITIONS).of(room)
    members_key = f"{nodes.channel}:presence:{{{partition}}}:members:{room}"
    client = redis_cluster.client()
    assert client.hkeys(members_key) == [b"bob", b"carol"]
    assert client.keyslot(members_key) == client.keyslot(partition)


def teams_on_masters(channel: str, servers: RedisClusterServers, count: int) -> list[str]:
    """``count`` team ids whose rooms' partitions are on different masters."""
    partitions, client, found = Partitions(channel, DEFAULT_PARTITIONS), servers.client(), {}
    for team in (f"t{n}" for n in range(200)):
        found.setdefault(client.get_node_from_key(partitions.of(f"team:{team}")).port, team)
    assert len(found) >= count, found
    return list(found.values())[:count]


def broadcasts(source: str, teams: list[str], seqs: range) -> list[dict[str, Any]]:
    """One broadcast per team and seq, the teams interleaved, and every fourth one to two teams at once."""
    ops = []
    for seq in seqs:
        for i, team in enumerate(teams):
            rooms = [team, teams[(i + 1) % len(teams)]] if (seq + i) % 4 == 0 else [team]
            ops.append({"op": "broadcast", "event": {"source": source, "seq": seq * 10 + i, "teams": rooms}})
    return ops


def each_channel_in_order(got: list[dict[str, Any]], sources: list[str], teams: list[str]) -> None:
    """Each channel's order is kept: a source's sends to one team arrive in the order it sent them."""
    for name in sources:
        for team in teams:
            seqs = [t["seq"] for t in got if t["source"] == name and teams[t["seq"] % 10] == team]
            assert seqs == sorted(seqs), (name, team, seqs)


@pytest.mark.faults  # three processes besides the test's and Node, about 20 s: make test-faults
@pytest.mark.node
async def test_clients_recover_on_the_other_process_from_three_partitions_of_a_redis_cluster(
    redis_cluster: RedisClusterServers,
    on_cluster: Callable[..., Awaitable[Cluster]],
    py_client: Connect,
    js_client: Callable[..., Awaitable[JSClient]],
    token: Token,
) -> None:
    nodes = await on_cluster(recovery_window="60")
    a, b = nodes.servers
    teams = teams_on_masters(nodes.channel, redis_cluster, 3)
    # The Python test client, and the stock socket.io-client, which presents its pid and last offset itself.
    alice = await py_client(a.url, token=token("alice"))
    bob = await js_client(a.url, token=token("bob"))
    for client, team in itertools.product((alice, bob), teams):
        assert (await client.call("join_team", {"team_id": team}))["ok"]
    sources = ["A", "B", "async"]  # the sync emitter refuses sends that recovery logs

    async def send(seqs: range) -> int:
        ops = {name: broadcasts(name, teams, seqs) for name in sources}
        results = await send_all(nodes, ops)
        assert all(r == {"ok": True} for rs in results.values() for r in rs), results
        return sum(map(len, ops.values()))

    before = await send(range(2))
    await alice.inbox.wait_for("tick", before, timeout=15)
    await bob.inbox.wait_for("tick", before, timeout=15)
    await alice.drop()
    await bob.drop()
    # Missed while away: from the process they come back on, the one they left and an Emitter, on three masters.
    missed = await send(range(2, 6))
    alice.url = b.url
    await alice.reconnect()
    assert alice.recovered, nodes.logs()
    assert (await bob.reconnect(b.url))["recovered"] is True, nodes.logs()
    after = await send(range(6, 7))
    await alice.inbox.wait_for("tick", before + missed + after, timeout=15)
    await bob.inbox.wait_for("tick", before + missed + after, timeout=15)
    await asyncio.sleep(0.3)  # nothing more may come: no packet twice
    sent = Counter((name, seq * 10 + i) for name in sources for seq in range(7) for i in range(3))
    # The test client keeps each offset to itself; socket.io-client passes it on as the last argument.
    for got in (alice.received("tick"), [args[0] for args in bob.received("tick")]):
        assert Counter((t["source"], t["seq"]) for t in got) == sent
        each_channel_in_order(got, sources, teams)
    assert all(isinstance(args[-1], str) for args in bob.received("tick"))
    stats = await b.stats()
    assert stats["delivery"]["recovery.recovered"] == 2, stats


async def test_recovery_on_a_redis_cluster_replays_each_channel_in_order_or_says_it_cannot(
    redis_cluster: RedisClusterServers, stack: AsyncExitStack, two_buses: TwoBuses, py_client: Connect, token: Token
) -> None:
    # In this process (the servers, the Emitter): the same over the wire as the multi-process test, a few seconds.
    # 40 packets per channel's stream and per connection's ring: alice's ring drops some before her last drop.
    limits = {"recovery_window": 60, "recovery_max_packets": 40}
    options, buses, (url_a, url_b) = await two_buses("recovery", [TeamRoom], **limits)
    channel = options["redis_channel"]
    emitter = Emitter(settings=EventBusSettings(**limits, **options))
    stack.push_async_callback(emitter.close)
    teams = teams_on_masters(channel, redis_cluster, 3)
    alice = await py_client(url_a, token=token("alice"))
    for team in teams:
        assert (await alice.call("join_team", {"team_id": team}))["ok"]
    senders = {"A": buses[0], "B": buses[1], "E": emitter}

    async def send(seqs: range) -> int:
        sent = [(name, op) for name in senders for op in broadcasts(name, teams, seqs)]
        for name, op in sent:
            await senders[name].broadcast(TickEvent(**op["event"]))
        return len(sent)

    before = await send(range(1))
    await alice.inbox.wait_for("tick", before)
    await alice.drop()
    missed = await send(range(1, 4))
    alice.url = url_b
    await alice.reconnect()
    assert alice.recovered
    after = await send(range(4, 5))
    await alice.inbox.wait_for("tick", before + missed + after)
    await alice.fence(buses[1])  # nothing more may come: no packet twice
    got = alice.received("tick")
    assert Counter((t["source"], t["seq"]) for t in got) == Counter(
        (name, seq * 10 + i) for name in senders for seq in range(5) for i in range(3)
    )
    each_channel_in_order(got, list(senders), teams)
    assert buses[1].delivery_counts()["recovery.recovered"] == 1

    # Gone from the stream: MAXLEN ~ 40 trims whole stream nodes (at most 100 entries or 4 KiB), so 250 sends to
    # one team trim it past alice's position there.
    await alice.drop()
    for seq in range(250):
        await emitter.broadcast(TickEvent(source="E", seq=1000 + seq, teams=[teams[0]]))
    await alice.reconnect()
    assert not alice.recovered
    await alice.fence(buses[1])
    assert len(alice.received("tick")) == len(got)  # none of the missed ones, not a part of them
    assert buses[1].delivery_counts()["recovery.too_old"] == 1


async def test_a_packet_published_while_a_cluster_restore_subscribes_is_not_missed(
    two_buses: TwoBuses, py_client: Connect, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on one Redis (tests/history/test_recovery_redis.py): every pause of a restore at a subscription (here the
    # channels' settle) sees a packet published; the client gets each, replayed or live, once.
    _, (bus_a, bus_b), (url_a, _) = await two_buses("restore", [TeamRoom], recovery_window=60)
    manager = bus_a.sio.manager
    assert isinstance(manager, RedisManager)
    assert manager.partitions is not None
    subscribe, during, armed = manager.subscribe_rooms, [], False

    async def subscribe_while_publishing(namespace: str, rooms: list[str]) -> None:
        await subscribe(namespace, rooms)
        if armed:
            during.append(len(during))
            await bus_b.broadcast(TickEvent(source="during", seq=during[-1], teams=["t1"]))
            await manager.fence_channel(manager.partitions.of("team:t1"))  # bus_a's listener has handled it

    monkeypatch.setattr(manager, "subscribe_rooms", subscribe_while_publishing)
    alice = await py_client(url_a, token=token("alice"))
    assert (await alice.call("join_team", {"team_id": "t1"}))["ok"]
    await alice.drop()
    await bus_b.broadcast(TickEvent(source="missed", seq=0, teams=["t1"]))
    armed = True
    await alice.reconnect()
    armed = False
    assert alice.recovered
    assert during  # the restore did subscribe
    await bus_b.broadcast(TickEvent(source="after", seq=0, teams=["t1"]))
    await alice.inbox.wait_for("tick", len(during) + 2)
    await alice.fence(bus_a)  # nothing more may come: no packet twice
    got = [(t["source"], t["seq"]) for t in alice.received("tick")]
    assert got == [("missed", 0), *(("during", n) for n in during), ("after", 0)]


async def test_a_cluster_connection_lost_during_its_replay_resumes_after_what_it_got(
    two_buses: TwoBuses, py_client: Connect, token: Token
) -> None:
    # Its ring holds the replayed packets; an exclusion of its first sid holds in the second replay too.
    _, (bus_a, bus_b), (url_a, url_b) = await two_buses("replay", [TeamRoom], recovery_window=60)
    alice = await py_client(url_a, token=token("alice"))
    assert (await alice.call("join_team", {"team_id": "t1"}))["ok"]
    first_sid = alice.sid
    await alice.drop()
    for n in range(5):
        await (bus_a, bus_b)[n % 2].broadcast(TickEvent(source="missed", seq=n, teams=["t1"]))
        if n == 1:  # in the part of the replay she loses
            await bus_b.broadcast(TickEvent(source="own", seq=0, teams=["t1"]), exclude=first_sid)
    lost = lose_replay_after(alice, 2)
    alice.url = url_b
    await alice.reconnect()
    assert alice.recovered
    assert [data[1]["seq"] for data in lost] == [2, 3, 4]
    await alice.drop()
    alice.url = url_a
    await alice.reconnect()
    assert alice.recovered
    await bus_b.broadcast(TickEvent(source="after", seq=0, teams=["t1"]))
    await alice.inbox.wait_for("tick", 6)
    await alice.fence(bus_a)  # nothing more may come
    got = [(t["source"], t["seq"]) for t in alice.received("tick")]
    assert got == [*(("missed", n) for n in range(5)), ("after", 0)]


async def test_a_master_killed_during_broadcasts_fails_over_without_duplicates_or_disconnects(
    redis_cluster: RedisClusterServers, on_cluster: Callable[..., Awaitable[Cluster]], py_client: Connect, token: Token
) -> None:
    # Last in the module: the cluster keeps running with one master fewer (its replica promoted). With recovery
    # on, each server catches its subscription's gap up from the channels' streams, and says so in its log.
    nodes = await on_cluster(recovery_window="60")
    sources = {name: nodes.sources[name] for name in ("A", "B", "async")}  # sync refuses sends recovery logs
    teams = [f"t{i}" for i in range(6)]
    users = [f"f{i}" for i in range(6)]
    clients = [await py_client(nodes.servers[i % 2].url, token=token(user)) for i, user in enumerate(users)]
    for client, team in zip(clients, teams, strict=True):
        assert (await client.call("join_team", {"team_id": team}))["ok"]

    def round_of(seq: int) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [{"op": "broadcast", "event": {"source": name, "seq": seq, "teams": [team]}} for team in teams]
            for name in sources
        }

    def got_round(seq: int) -> bool:
        return all(all(ticks(c)[(name, seq)] == 1 for name in sources) for c in clients)

    async def send(seq: int) -> list[bool]:
        results = await asyncio.gather(*(sources[name].run(ops) for name, ops in round_of(seq).items()))
        return [r["ok"] for rs in results for r in rs]

    assert all(await send(0))
    await wait_until(lambda: got_round(0), "round 0 everywhere", 30)

    # SIGKILL the master holding the partition of team:t0.
    partition = Partitions(nodes.channel, DEFAULT_PARTITIONS).of("team:t0")
    owner = redis_cluster.client().get_node_from_key(partition)
    victim = next(node for node in redis_cluster.nodes if node.port == owner.port)
    assert victim.proc is not None
    killed_at = asyncio.get_running_loop().time()
    victim.proc.kill()
    victim.proc.wait()
    victim.proc = None

    # Rounds go on until one reaches every client: publishes may fail (PublishError) while the replica is
    # promoted; nothing may arrive twice.
    seq, failed, published = 1, 0, {0}
    while True:
        results = await send(seq)
        failed += results.count(False)
        if all(results):
            published.add(seq)
            try:
                await wait_until(lambda: got_round(seq), f"round {seq}", 2)  # noqa: B023 - awaited here
                break
            except TimeoutError:
                pass
        assert asyncio.get_running_loop().time() - killed_at < 60, f"no full round 60 s after the kill (round {seq})"
        seq += 1
        await asyncio.sleep(0.2)
    elapsed = asyncio.get_running_loop().time() - killed_at
    # What recovery reported for the window: each server's gap, caught up from the streams or not.
    reports = [line for line in nodes.logs().splitlines() if "resubscribed to Redis" in line]
    lost = sum(
        ticks(c)[(name, n)] == 0 for n in published for name in sources for c, team in zip(clients, teams, strict=True)
    )
    print(
        f"failover: full delivery again at round {seq}, {elapsed:.1f}s after the kill, {failed} publishes refused, "
        f"{lost} ticks of fully published rounds lost; recovery: {reports}"
    )
    for client in clients:
        assert client.sio.connected
        assert max(ticks(client).values()) == 1, ticks(client)
    for server in nodes.servers:
        assert server.proc is not None
        assert server.proc.returncode is None
    # The kill came between rounds: every round a publish was accepted for reached every client, the gap's
    # packets from the streams; a server whose streams no longer covered it would have ended its connections.
    assert lost == 0
    assert reports
    assert all("delivered from the recovery stream" in report for report in reports), reports


async def test_leaving_the_last_room_a_master_serves_does_not_break_the_cluster_listener(
    redis_cluster: RedisClusterServers,
    jwt_auth: JWTAuth,
    serve: Serve,
    py_client: Connect,
    token: Token,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each leave unsubscribes the only partition held on one master, so redis-py closes its connection to that
    # node while the listener polls: it once made the listener fail and restart ("Unexpected Error in pubsub
    # listening thread"), and what was published meanwhile was lost.
    channel = f"leave-{uuid.uuid4().hex[:8]}"
    bus = EventBus(auth=jwt_auth, rooms=[FeedRoom], redis_url=redis_cluster.url, redis_channel=channel)
    url = await serve(bus.asgi_app())
    partitions = Partitions(channel, DEFAULT_PARTITIONS)
    nodes = redis_cluster.client()
    held = {nodes.get_node_from_key(name).port for name in (channel, partitions.of("user:alice"))}
    # Feeds on masters that hold neither the control channel nor alice's own: leaving one empties that master.
    lonely = [
        feed for feed in map(str, range(200)) if nodes.get_node_from_key(partitions.of(f"feed:{feed}")).port not in held
    ][:2]
    alice = await py_client(url, token=token("alice"))
    caplog.set_level("ERROR")
    for cycle in range(30):
        for i, feed in enumerate(lonely):
            assert (await alice.call("join_feed", {"feed_id": feed}))["ok"]
            await bus.broadcast(PostEvent(feed_id=feed, n=cycle))
            # Delivered from the subscription (the sender's own process included): it must come before the leave.
            await alice.inbox.wait_for("post", 2 * cycle + i + 1, timeout=5)
            assert (await alice.call("leave_feed", {"feed_id": feed}))["ok"]
    assert [p["n"] for p, _ in alice.received("post")] == [n for n in range(30) for _ in lonely]
    assert not [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_user_and_dedicated_history_rooms_get_their_own_shard_channels_on_a_redis_cluster(
    redis_cluster: RedisClusterServers, jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    # Feeds are dedicated too here: a history room on its own channel, whose name tags its keys (one script writes
    # them and SPUBLISHes, so they must share the channel's slot).
    channel = f"users-{uuid.uuid4().hex[:8]}"
    buses = [
        EventBus(
            auth=jwt_auth,
            rooms=[FeedRoom],
            redis_url=redis_cluster.url,
            redis_channel=channel,
            redis_dedicated_rooms=["user", "feed"],
        )
        for _ in range(2)
    ]
    url_a, url_b = [await serve(bus.asgi_app()) for bus in buses]
    alice_a = await py_client(url_a, token=token("alice"))
    alice_b = await py_client(url_b, token=token("alice"))
    bob = await py_client(url_b, token=token("bob"))
    nodes = redis_cluster.client()

    def subscribers(shard_channel: str) -> int:
        node = nodes.get_node_from_key(shard_channel)
        reply = redis.Redis(host=node.host, port=node.port).execute_command("PUBSUB", "SHARDNUMSUB", shard_channel)
        return int(reply[1])

    alice_channel = f"{channel}#user:alice"
    assert (subscribers(alice_channel), subscribers(f"{channel}#user:bob")) == (2, 1)  # before the connects' acks
    for n in range(5):
        await buses[1].emit_to_user("alice", NoticeEvent(text=f"a{n}"))
        await buses[1].emit_to_user("bob", NoticeEvent(text=f"b{n}"))
    for client, bus in ((alice_a, buses[0]), (alice_b, buses[1]), (bob, buses[1])):
        await client.inbox.wait_for("notice", 5)
        await client.fence(bus)
    assert [n["text"] for n in alice_a.received("notice")] == [f"a{n}" for n in range(5)]
    assert [n["text"] for n in alice_b.received("notice")] == [f"a{n}" for n in range(5)]
    assert [n["text"] for n in bob.received("notice")] == [f"b{n}" for n in range(5)]
    received_a = buses[0].sio.manager.received
    # Nothing of bob's: alice's 5 and the fences of her two connections (a message on her channel each).
    assert (received_a["dedicated"], received_a["partition"]) == (5 + 2, 0), received_a

    feed = FeedRoom(feed_id="9")
    assert (await alice_a.call("join_feed", {"feed_id": "9"}))["ok"]
    await buses[1].broadcast(PostEvent(feed_id="9", n=1))
    [(post, positions)] = await alice_a.inbox.wait_for("post", 1)
    assert post == {"feed_id": "9", "n": 1}
    assert positions[feed.name]["offset"] == 1
    assert [p.offset for p in (await buses[1].history(feed)).publications] == [1]
    # Tagged by the room's own channel, in its slot (the script that wrote them SPUBLISHed on it).
    feed_keys = [f"{channel}:history:{{{channel}#feed:9}}:/:feed:9:{kind}" for kind in ("stream", "meta")]
    assert nodes.exists(*feed_keys) == 2
    assert {nodes.keyslot(key) for key in feed_keys} == {nodes.keyslot(f"{channel}#feed:9")}

    await alice_b.close()
    await wait_until(lambda: subscribers(alice_channel) == 1, "B dropping alice's channel")
    await alice_a.close()
    await wait_until(lambda: subscribers(alice_channel) == 0, "A dropping alice's channel")


async def test_what_a_process_keeps_per_channel_goes_with_its_last_user_on_a_redis_cluster(
    redis_cluster: RedisClusterServers, two_buses: TwoBuses, py_client: Connect, token: Token
) -> None:
    # One channel per user: kept for every user ever connected, a process's memory would grow without bound.
    _, buses, (url_a, url_b) = await two_buses("bounded", [TeamRoom], recovery_window=2)
    empty = per_channel_state(buses[0])
    users = [f"u{n}" for n in range(12)]
    clients = [await py_client(url_a, token=token(user)) for user in users]
    for user in users:
        await buses[1].emit_to_user(user, NoticeEvent(text=f"hi {user}"))
    for client in clients:
        await client.inbox.wait_for("notice", 1)
    assert len(per_channel_state(buses[0])["recovery.heads"]) == len(users)
    # Half drop (their sessions are kept for the window), half leave; the first comes back on B while away.
    for client in clients[: len(users) // 2]:
        await client.drop()
    for client in clients[len(users) // 2 :]:
        await client.close()
    await buses[1].emit_to_user(users[0], NoticeEvent(text="missed"))
    clients[0].url = url_b
    await clients[0].reconnect()
    assert clients[0].recovered
    await clients[0].inbox.wait_for("notice", 2)
    assert [n["text"] for n in clients[0].received("notice")] == ["hi u0", "missed"]
    await wait_until(lambda: per_channel_state(buses[0]) == empty, "A to keep nothing of users gone", timeout=5)
    await clients[0].close()
    await wait_until(lambda: per_channel_state(buses[1]) == empty, "B to keep nothing of users gone", timeout=5)
