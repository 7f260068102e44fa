"""Delivery under Redis faults, over the wire: two uvicorn server processes sharing one real redis-server.

Pub/sub does not queue: what is published while a server's subscription is away never reaches it. With
connection state recovery on (``EVENTBUS_RECOVERY_WINDOW``) a server that resubscribes first delivers what the
recovery stream holds after its last position; when the stream no longer covers the gap (Redis lost its data)
it ends its connections with ``session_ended`` ``redis_gap`` instead. Without recovery the gap is logged with
its duration and counted (``eventbus_redis_gaps_total``). Each test states what was lost and who was told.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.clients import JSClient, PyClient
from tests.conftest import SECRET
from tests.e2e.cluster import ServerProcess, environment
from tests.e2e.conftest import SIGNING_KEY
from tests.e2e.test_redis_cluster import subscribers
from tests.redis_server import RedisServer
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
StartJS = Callable[..., Awaitable[JSClient]]

TEAM = "t0"
WAIT = 30.0
CHUNK = 20  # broadcasts per /ops request
GAP_ENDED = {"reason": "redis_gap"}


async def start_pair(
    redis_server: RedisServer, stack: AsyncExitStack, tmp_path: Any, **settings: str
) -> tuple[ServerProcess, ServerProcess]:
    """Servers A and B on one channel of ``redis_server``, with metrics, stopped (and their logs printed) after."""
    env = environment(
        redis_url=redis_server.url,
        redis_channel=f"faults-{uuid.uuid4().hex[:8]}",
        redis_signing_key=SIGNING_KEY,
        jwt_secret=SECRET,
        metrics="true",
        **settings,
    )
    a, b = (ServerProcess(name, env, tmp_path / f"server-{name}.log") for name in ("A", "B"))
    for server in (a, b):
        stack.callback(lambda s=server: print(f"--- {s.name} ---\n{s.log()}"))
        stack.push_async_callback(server.stop)
    await asyncio.gather(a.start(), b.start())
    return a, b


Pair = tuple[ServerProcess, ServerProcess, list[PyClient], list[PyClient]]


@pytest.fixture
def pair(
    redis_server: RedisServer, stack: AsyncExitStack, tmp_path: Any, py_client: Connect, token: Token
) -> Callable[..., Awaitable[Pair]]:
    """``a, b, on_a, on_b = await pair(clients, **settings)``: `start_pair`, and ``clients`` team members on each."""

    async def start(clients: int, **settings: str) -> Pair:
        a, b = await start_pair(redis_server, stack, tmp_path, **settings)
        on_a = await team_clients(py_client, token, a, "a", clients)
        return a, b, on_a, await team_clients(py_client, token, b, "b", clients)

    return start


async def team_clients(connect: Connect, token: Token, server: ServerProcess, prefix: str, n: int) -> list[PyClient]:
    clients = [await connect(server.url, token=token(f"{prefix}{i}")) for i in range(n)]
    for client in clients:
        assert (await client.call("join_team", {"team_id": TEAM}))["ok"]
    return clients


async def broadcast(server: ServerProcess, source: str, start: int, count: int) -> list[dict[str, Any]]:
    """One ``broadcast`` op per tick: each result says whether that one was published (or raised PublishError)."""
    ops = [
        {"op": "broadcast", "event": {"source": source, "seq": seq, "teams": [TEAM]}}
        for seq in range(start, start + count)
    ]
    return await server.run(ops)


def seqs(client: PyClient, source: str) -> list[int]:
    return [tick["seq"] for tick in client.received("tick") if tick["source"] == source]


async def fenced(clients: list[PyClient], server: ServerProcess) -> None:
    """Every client has what ``server`` sent before the fence (one channel, one order: a server's sends keep theirs)."""
    before = [len(c.received("fence")) for c in clients]
    assert await server.run([{"op": "fence", "source": server.name}]) == [{"ok": True}]
    await asyncio.gather(
        *(c.inbox.wait_for("fence", n + 1, timeout=WAIT) for c, n in zip(clients, before, strict=True))
    )


async def resubscribed(redis_server: RedisServer, channel: str, count: int = 2) -> None:
    async def back() -> bool:
        return await subscribers(redis_server, channel) == count

    await wait_until(back, f"{count} servers subscribed to {channel}", WAIT)


async def gaps(server: ServerProcess) -> dict[str, float]:
    """``eventbus_redis_gaps_total`` by outcome, scraped from the server's /metrics."""
    async with httpx.AsyncClient(timeout=WAIT) as http:
        text = (await http.get(f"{server.url}/metrics")).text
    return {m[1]: float(m[2]) for m in re.finditer(r'^eventbus_redis_gaps_total\{outcome="(\w+)"\} (\S+)$', text, re.M)}


def channel_of(server: ServerProcess) -> str:
    return server.env["EVENTBUS_REDIS_CHANNEL"]


async def cut_during_broadcasts(redis_server: RedisServer, a: ServerProcess, b: ServerProcess) -> int:
    """Kill A's subscription while B broadcasts ticks 0..199 (the first chunk before, the rest during and after)."""
    assert await broadcast(b, "b", 0, CHUNK) == [{"ok": True}] * CHUNK
    assert a.proc is not None
    assert redis_server.kill_subscriptions_of(a.proc.pid) == 1
    for start in range(CHUNK, 200, CHUNK):
        assert await broadcast(b, "b", start, CHUNK) == [{"ok": True}] * CHUNK
    await resubscribed(redis_server, channel_of(a))
    return 200


async def test_a_cut_subscription_catches_up_from_the_recovery_stream(
    pair: Callable[..., Awaitable[Pair]], redis_server: RedisServer
) -> None:
    a, b, on_a, on_b = await pair(3, recovery_window="60")

    sent = await cut_during_broadcasts(redis_server, a, b)
    await fenced([*on_a, *on_b], b)

    # Every client, on the cut process too, got every tick once, in order, without reconnecting.
    for client in (*on_a, *on_b):
        assert seqs(client, "b") == list(range(sent))
        assert client.sio.connected
        assert client.received("session_ended") == []
    [missed] = (int(n) for n in re.findall(r"after a gap of [\d.]+s: (\d+) missed packets delivered", a.log()))
    print(f"A's subscription was away for {missed} of {sent} ticks; its clients got them from the recovery stream")
    assert missed > 0
    assert await gaps(a) == {"caught_up": 1.0}
    assert await gaps(b) == {}


async def test_without_recovery_a_cut_subscription_loses_the_gap_and_counts_it(
    pair: Callable[..., Awaitable[Pair]], redis_server: RedisServer
) -> None:
    a, b, on_a, on_b = await pair(2)

    sent = await cut_during_broadcasts(redis_server, a, b)
    await fenced([*on_a, *on_b], b)

    for client in on_b:
        assert seqs(client, "b") == list(range(sent))
    # At most once: A's clients lost what was published during the gap (the same ticks for each), nothing else.
    got = seqs(on_a[0], "b")
    assert all(seqs(client, "b") == got for client in on_a)
    assert got == sorted(set(got))
    lost = sorted(set(range(sent)) - set(got))
    print(f"A's clients lost ticks {lost[0]}..{lost[-1]} ({len(lost)} of {sent}): published during the gap")
    assert lost == list(range(lost[0], lost[-1] + 1))
    assert len(re.findall(r"after a gap of [\d.]+s: delivery resumed; messages published meanwhile", a.log())) == 1
    assert await gaps(a) == {"lost": 1.0}


@pytest.mark.faults
@pytest.mark.node
async def test_redis_killed_during_broadcasts_tells_every_client_what_it_cannot_recover(
    pair: Callable[..., Awaitable[Pair]], redis_server: RedisServer, js_client: StartJS, token: Token
) -> None:
    a, b, on_a, on_b = await pair(2, recovery_window="60")
    clients = [*on_a, *on_b]
    page = await js_client(a.url, token=token("page"), reconnection=True)  # socket.io-client as a page runs it
    assert await page.call("join_team", {"team_id": TEAM}) == {"ok": True, "room": f"team:{TEAM}"}
    assert await broadcast(b, "b", 0, CHUNK) == [{"ok": True}] * CHUNK
    await asyncio.gather(*(c.inbox.wait_for("tick", CHUNK, timeout=WAIT) for c in [*clients, page]))

    redis_server.kill()  # no persistence: the recovery stream and its epoch are gone with it
    during = [*await broadcast(a, "a", 0, 5), *await broadcast(b, "b", CHUNK, 5)]
    redis_server.start()
    await resubscribed(redis_server, channel_of(a))

    # The publishers were told: each broadcast while Redis was down raised PublishError (and reached nobody).
    assert [r["ok"] for r in during] == [False] * 10
    assert all(r["error"].startswith("PublishError: could not publish 'emit' to Redis at ") for r in during)
    # Every client was told: the servers could not know what their subscriptions missed (Redis lost the stream),
    # so each ended its connections with session_ended redis_gap and a closed transport.
    await asyncio.gather(*(c.inbox.wait_for("session_ended", 1, timeout=WAIT) for c in clients))
    await wait_until(lambda: not any(c.sio.connected for c in clients), "every client to be disconnected", WAIT)
    for client in clients:
        assert client.received("session_ended") == [GAP_ENDED]
        assert seqs(client, "b") == list(range(CHUNK))
        assert seqs(client, "a") == []
    assert "ended 3 connections with session_ended 'redis_gap'" in a.log()
    assert "ended 2 connections with session_ended 'redis_gap'" in b.log()
    for server in (a, b):
        assert await gaps(server) == {"sessions_ended": 1.0}
    # The stock client saw its transport closed and came back by itself, not recovered: the page reloads.
    await page.inbox.wait_for("__lifecycle__", 3, timeout=WAIT)
    assert [(m["type"], m.get("recovered"), m.get("reason")) for m in page.lifecycle()] == [
        ("connect", False, None),
        ("disconnect", None, "transport close"),
        ("connect", False, None),
    ]
    assert page.received("session_ended") == [GAP_ENDED]

    # Reconnecting (socket.io-client does it by itself after a closed transport) is a fresh connection.
    for client in clients:
        await client.reconnect()
        assert not client.recovered
        assert (await client.call("join_team", {"team_id": TEAM}))["ok"]
    assert await broadcast(a, "a", 100, CHUNK) == [{"ok": True}] * CHUNK
    await fenced(clients, a)
    for client in clients:
        assert seqs(client, "a") == list(range(100, 100 + CHUNK))
    print(f"Redis SIGKILLed: {len(during)} broadcasts raised PublishError, {len(clients)} clients got redis_gap")


@pytest.mark.faults
async def test_a_killed_server_leaves_the_other_serving_and_its_clients_start_over_there(
    pair: Callable[..., Awaitable[Pair]],
) -> None:
    a, b, on_a, on_b = await pair(2, recovery_window="60")
    assert await broadcast(b, "b", 0, CHUNK) == [{"ok": True}] * CHUNK
    await asyncio.gather(*(c.inbox.wait_for("tick", CHUNK, timeout=WAIT) for c in on_a))

    assert a.proc is not None
    a.proc.kill()
    await a.proc.wait()
    assert await broadcast(b, "b", CHUNK, CHUNK) == [{"ok": True}] * CHUNK  # B keeps serving meanwhile
    await wait_until(lambda: not any(c.sio.connected for c in on_a), "A's clients to notice", WAIT)

    # A kept its connections' sessions in memory until they disconnect, which a SIGKILL never lets happen: B does
    # not know them, so A's clients come back there as fresh connections, told (recovered false), and rejoin.
    for client in on_a:
        client.url = b.url
        await client.reconnect()
        assert not client.recovered
        assert (await client.call("join_team", {"team_id": TEAM}))["ok"]
    assert await broadcast(b, "b", 2 * CHUNK, CHUNK) == [{"ok": True}] * CHUNK
    await fenced([*on_a, *on_b], b)
    for client in on_b:
        assert seqs(client, "b") == list(range(3 * CHUNK))
    for client in on_a:
        assert seqs(client, "b") == [*range(CHUNK), *range(2 * CHUNK, 3 * CHUNK)]
    assert "Traceback" not in b.log()
