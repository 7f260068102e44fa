"""Scale-out for real: two uvicorn server processes, an async and a sync emitter process, one redis-server.

Every check counts per client: each event must arrive exactly once at every
connection in its rooms and nowhere else. A ``fence`` sent last by each
source bounds the waiting: Redis keeps each publisher's order and each server
delivers in that order, so a client holding all four fences has everything.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

from tests.clients import PyClient
from tests.e2e.cluster import Cluster, ServerProcess, environment
from tests.e2e.conftest import SIGNING_KEY
from tests.redis_server import RedisServer
from tests.servers import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

StartCluster = Callable[..., Awaitable[Cluster]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
Key = tuple[str, int]

USERS = [f"u{i:02d}" for i in range(60)]
TEAMS = [f"t{i}" for i in range(6)]
WAIT = 30.0


def team_of(user: str) -> str:
    return TEAMS[int(user[1:]) % len(TEAMS)]


def members(*teams: str) -> set[str]:
    return {user for user in USERS if team_of(user) in teams}


def plan(source: str, count: int) -> list[tuple[dict[str, Any], set[str]]]:
    """``count`` operations for ``source``, each with the users who must receive it, covering every target kind."""
    steps: list[tuple[dict[str, Any], set[str]]] = []
    for seq in range(count):
        event = {"source": source, "seq": seq}
        team, other = TEAMS[seq % 6], TEAMS[(seq + 2) % 6]
        kind = seq % 5
        if kind == 0:
            steps.append(({"op": "broadcast", "event": {**event, "teams": [team]}}, members(team)))
        elif kind == 1:  # two rooms: their members get it once
            steps.append(({"op": "broadcast", "event": {**event, "teams": [team, other]}}, members(team, other)))
        elif kind == 2:
            user = USERS[(seq * 7 + len(source)) % len(USERS)]
            steps.append(({"op": "emit_to_user", "user": user, "event": event}, {user}))
        elif kind == 3:
            steps.append(({"op": "emit_to_room", "room": f"team:{team}", "event": event}, members(team)))
        else:
            steps.append(({"op": "emit_to_all", "event": event}, set(USERS)))
    return steps


def ticks(client: PyClient) -> Counter[Key]:
    return Counter((tick["source"], tick["seq"]) for tick in client.received("tick"))


async def fenced(clients: list[PyClient], sources: int, before: int = 0) -> None:
    """Wait until every client has every source's fence: all sent before the fences has then arrived."""
    await asyncio.gather(*(c.inbox.wait_for("fence", before + sources, timeout=WAIT) for c in clients))


async def send_all(cluster: Cluster, batches: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    names = list(batches)
    results = await asyncio.gather(*(cluster.sources[name].run(batches[name]) for name in names))
    return dict(zip(names, results, strict=True))


async def send_plans(
    nodes: Cluster, clients: list[PyClient], placements: list[tuple[str, ServerProcess]], count: int
) -> tuple[dict[str, Counter[Key]], dict[str, Counter[Key]]]:
    """Every source sends ``count`` planned operations, then its fence; waits for every client's fences.

    Returns what each wrong client got amiss (missing and extra events), by ``user@server``, and the events each
    user must have received. ``placements`` says the user and server of each of ``clients``.
    """
    plans = {name: plan(name, count) for name in nodes.sources}
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
    return wrong, expected


async def subscribers(server: RedisServer, channel: str) -> int:
    client = redis.asyncio.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
    finally:
        await client.aclose()
    return int(count)


async def test_events_from_four_sources_reach_exactly_their_rooms(
    cluster: StartCluster, py_client: Connect, token: Token
) -> None:
    nodes = await cluster()
    a, b = nodes.servers
    # Users alternate between A and B; the first five have a second tab on the other server.
    placements = [(user, (a, b)[i % 2]) for i, user in enumerate(USERS)]
    placements += [(user, (b, a)[i % 2]) for i, user in enumerate(USERS[:5])]
    clients = await asyncio.gather(*(py_client(server.url, token=token(user)) for user, server in placements))
    joins = await asyncio.gather(
        *(c.call("join_team", {"team_id": team_of(u)}) for (u, _), c in zip(placements, clients, strict=True))
    )
    assert all(ack["ok"] for ack in joins), joins

    wrong, expected = await send_plans(nodes, clients, placements, 60)
    sample = dict(list(wrong.items())[:3])
    assert not wrong, f"{len(wrong)} of {len(clients)} clients got other events than their rooms', e.g. {sample}"
    assert len(nodes.sources) == 4
    assert sum(sum(ticks(c).values()) for c in clients) == sum(sum(expected[u].values()) for u, _ in placements)


async def test_redis_restart_raises_meanwhile_and_delivery_resumes(
    cluster: StartCluster, redis_server: RedisServer, py_client: Connect, token: Token
) -> None:
    nodes = await cluster()
    clients = [await py_client(nodes.servers[i % 2].url, token=token(f"r{i}")) for i in range(6)]
    for client in clients:
        assert (await client.call("join_team", {"team_id": "t0"}))["ok"]

    def round_of(seq: int) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [
                {"op": "broadcast", "event": {"source": name, "seq": seq, "teams": ["t0"]}},
                {"op": "fence", "source": name},
            ]
            for name in nodes.sources
        }

    assert all(r["ok"] for rs in (await send_all(nodes, round_of(0))).values() for r in rs)
    await fenced(clients, 4)

    redis_server.stop()
    during = await send_all(nodes, round_of(1))
    for name, (broadcast, fence) in during.items():
        assert not broadcast["ok"], f"{name}: a broadcast while Redis is down must raise, got {broadcast}"
        assert broadcast["error"].startswith("PublishError: could not publish 'emit' to Redis at redis://127.0.0.1:")
        assert not fence["ok"]

    redis_server.start()

    async def both_subscribed() -> bool:
        return await subscribers(redis_server, nodes.channel) == 2

    # Pub/sub does not queue: wait until both servers' listeners are back, or their clients would miss messages.
    await wait_until(both_subscribed, "both servers to resubscribe", WAIT)
    after = await send_all(nodes, round_of(2))
    assert all(r["ok"] for rs in after.values() for r in rs), after
    await fenced(clients, 4, before=4)

    expected = Counter({(name, seq): 1 for name in nodes.sources for seq in (0, 2)})
    for client in clients:
        assert client.sio.connected
        assert ticks(client) == expected
    for server in nodes.servers:
        assert server.proc is not None
        assert server.proc.returncode is None
        log = server.log()
        assert "lost the Redis subscription at redis://127.0.0.1:" in log
        assert "resubscribed to Redis at redis://127.0.0.1:" in log
        assert "could not publish 'emit' to Redis" in log
    for emitter in nodes.emitters:
        assert "could not publish 'emit' to Redis" in emitter.log()


def forged(message: dict[str, Any]) -> str:
    """A message as python-socketio's managers publish it, written by hand: what an intruder on the channel sends."""
    return json.dumps({"namespace": "/", "host_id": "intruder", "skip_sid": None, "callback": None, **message})


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned-control"])
async def test_forged_channel_messages_are_dropped_when_signed(
    signed: bool, cluster: StartCluster, redis_server: RedisServer, py_client: Connect, token: Token
) -> None:
    """With a key, forged messages change nothing and are logged; without one (the control) the attack works."""
    nodes = await cluster(signing_key=SIGNING_KEY if signed else None)
    victim = await py_client(nodes.servers[1].url, token=token("victim"))
    emitter = nodes.sources["async"]
    intruder = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    try:
        await intruder.publish(
            nodes.channel, forged({"method": "enter_room", "sid": victim.sio.get_sid(), "room": "vault:1"})
        )
        await intruder.publish(
            nodes.channel,
            forged(
                {
                    "method": "emit",
                    "event": "tick",
                    "data": [{"source": "forged", "seq": 1}],
                    "binary": False,
                    "room": "user:victim",
                }
            ),
        )
    finally:
        await intruder.aclose()
    await emitter.run(
        [
            {"op": "emit_to_room", "room": "vault:1", "event": {"source": "vault", "seq": 2}},
            {"op": "fence", "source": "async"},
        ]
    )
    await fenced([victim], 1)

    if not signed:
        assert ticks(victim) == Counter({("forged", 1): 1, ("vault", 2): 1}), "control: the unsigned attack must work"
        return
    assert ticks(victim) == Counter()
    # The fence proves only the victim's server has read the forged messages; the other may still be at them.
    for server in nodes.servers:
        for method in ("enter_room", "emit"):
            line = f"dropped an unsigned '{method}' message from Redis channel"
            await wait_until(lambda s=server, text=line: text in s.log(), f"{server.name} to log: {line}")


async def test_replayed_and_tampered_signed_messages_are_dropped(
    cluster: StartCluster, redis_server: RedisServer, py_client: Connect, token: Token
) -> None:
    nodes = await cluster()
    victim = await py_client(nodes.servers[0].url, token=token("victim"))
    listener = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=WAIT)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(nodes.channel)
        await nodes.sources["sync"].run([{"op": "emit_to_user", "user": "victim", "event": {"source": "s", "seq": 3}}])
        captured = None
        while captured is None:  # None also stands for the subscribe confirmation it skipped
            captured = await asyncio.wait_for(pubsub.get_message(timeout=WAIT), WAIT)
        raw: bytes = captured["data"]
        assert raw.startswith(b"eb1."), raw[:40]
        await listener.publish(nodes.channel, raw)  # replay
        await listener.publish(nodes.channel, raw.replace(b'"seq": 3', b'"seq": 4'))  # tampered
    finally:
        await pubsub.aclose()
        await listener.aclose()
    await nodes.sources["sync"].run([{"op": "fence", "source": "sync"}])
    await fenced([victim], 1)

    assert ticks(victim) == Counter({("s", 3): 1})
    for server in nodes.servers:
        assert "message was already received once (replayed)" in server.log()
        assert "signature does not match" in server.log()


async def test_membership_changes_reach_the_process_holding_the_socket(
    cluster: StartCluster, py_client: Connect, token: Token
) -> None:
    nodes = await cluster()
    a, b = nodes.servers
    walker = await py_client(b.url, token=token("walker"))
    tabs = [await py_client(server.url, token=token("multi")) for server in (a, b)]
    others = [await py_client(server.url, token=token("multi2")) for server in (a, b)]
    bystander = await py_client(a.url, token=token("bystander"))
    sid = walker.sio.get_sid()
    vault = {"op": "emit_to_room", "room": "vault:9"}

    # Joined on A for a socket on B: B applies it before the next message (Redis keeps the order).
    assert await a.run([{"op": "join", "sid": sid, "room": "vault:9"}]) == [{"ok": True}]
    await nodes.sources["async"].run([{**vault, "event": {"source": "x", "seq": 1}}])
    await walker.inbox.wait_for("tick", 1, timeout=WAIT)
    assert await a.run([{"op": "leave", "sid": sid, "room": "vault:9"}]) == [{"ok": True}]
    await nodes.sources["async"].run([{**vault, "event": {"source": "x", "seq": 2}}, {"op": "fence", "source": "x"}])
    await fenced([walker], 1)
    sync = nodes.sources["sync"]
    await sync.run([{"op": "join", "sid": sid, "room": "vault:9"}, {**vault, "event": {"source": "x", "seq": 3}}])
    await walker.inbox.wait_for("tick", 2, timeout=WAIT)
    assert ticks(walker) == Counter({("x", 1): 1, ("x", 3): 1})

    assert await a.run([{"op": "disconnect", "sid": sid}]) == [{"ok": True}]
    await wait_until(lambda: not walker.sio.connected, "walker to be disconnected from B by A")
    assert await sync.run([{"op": "disconnect_user", "user": "multi"}]) == [{"ok": True}]
    await wait_until(lambda: not any(tab.sio.connected for tab in tabs), "both of multi's tabs to be disconnected")
    assert all(other.sio.connected for other in others)
    assert await b.run([{"op": "disconnect_user", "user": "multi2"}]) == [{"ok": True}]
    await wait_until(lambda: not any(o.sio.connected for o in others), "multi2's tabs on A and B to be disconnected")
    assert bystander.sio.connected


async def test_unreachable_redis_stops_the_server_naming_the_url_without_password(tmp_path: Any) -> None:
    port = free_port()
    env = environment(redis_url=f"redis://:hunter2@127.0.0.1:{port}/0", jwt_secret="x" * 32)
    server = ServerProcess("C", env, tmp_path / "server.log")
    with pytest.raises(RuntimeError, match="exited with 3"):
        await server.start()
    log = server.log()
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in log
    assert "hunter2" not in log
