"""Connection state recovery across two buses sharing a real redis-server: a client comes back on the other one."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from eventbus.history.recovery import Session, compare
from eventbus.transport.publishing import RemoteLogging
from eventbus.transport.recovery import RedisRecoveryLog
from eventbus.transport.redis_manager import RedisManager
from tests.clients import PyClient, lose_replay_after
from tests.redis_server import RedisServer
from tests.sample import ChatRoom, LobbyRoom, MessageEvent

pytestmark = pytest.mark.redis

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
KEY = "recovery-signing-key-0123456789abcdef"


@pytest.fixture
def two_buses(
    jwt_auth: JWTAuth, serve: Serve, redis_server: RedisServer
) -> Callable[..., Awaitable[list[tuple[EventBus, str]]]]:
    async def start(**settings: Any) -> list[tuple[EventBus, str]]:
        channel = f"recovery-{uuid.uuid4().hex[:8]}"
        served = []
        for _ in range(2):
            bus = EventBus(
                auth=jwt_auth,
                rooms=[ChatRoom, LobbyRoom],
                redis_url=redis_server.url,
                redis_channel=channel,
                redis_signing_key=KEY,
                recovery_window=60,
                **settings,
            )
            served.append((bus, await serve(bus.asgi_app())))
        return served

    return start


async def test_client_recovers_on_the_other_process(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]], py_client: Connect, token: Token
) -> None:
    (bus_a, url_a), (bus_b, url_b) = await two_buses()
    alice = await py_client(url_a, token=token("alice"))
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await bus_b.broadcast(MessageEvent(chat_id="42", text="before"))
    await alice.inbox.wait_for("message", 1)
    await alice.drop()
    for n in range(5):
        await (bus_a, bus_b)[n % 2].broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
    alice.url = url_b
    await alice.reconnect()
    assert alice.recovered
    await bus_a.broadcast(MessageEvent(chat_id="42", text="after"))
    received = await alice.inbox.wait_for("message", 7)
    assert [m["text"] for m in received] == ["before", *(f"missed {n}" for n in range(5)), "after"]


async def test_many_sessions_saved_at_once_all_land(redis_server: RedisServer) -> None:
    # A thousand clients dropping together each save a session: more at once than redis-py's pool of 100 holds.
    manager = RedisManager(redis_server.url, channel=f"burst-{uuid.uuid4().hex[:8]}", write_only=True)
    log = RedisRecoveryLog(manager, window=60)
    try:
        sessions = [Session(f"pid{n}", f"sid{n}", "/", "alice", "e:0-0", {f"sid{n}": "e:0-0"}) for n in range(300)]
        await asyncio.gather(*(log.save(session) for session in sessions))
        taken = await asyncio.gather(*(log.take(session.pid) for session in sessions))
        assert [session.sid if session else None for session in taken] == [f"sid{n}" for n in range(300)]
    finally:
        await log.stop()
        await manager.close()


class Catching(RedisManager):
    """A manager without a server: what a catch-up hands it is kept, in order, instead of going to sockets."""

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=f"gap-{uuid.uuid4().hex[:8]}", signing_key=KEY)
        self.missed: list[tuple[int, str]] = []

    async def deliver_missed(self, raw: bytes, positions: bytes | None, offset: str) -> None:
        message = self._decode(raw, fresh=False)
        assert message is not None
        self.missed.append((message["data"][0]["n"], offset))


async def test_a_catch_up_delivers_the_gap_in_order_or_says_the_stream_no_longer_covers_it(
    redis_server: RedisServer,
) -> None:
    manager = Catching(redis_server.url)
    log = RedisRecoveryLog(manager, window=60, max_packets=100)
    publisher = RemoteLogging(manager, window=60, max_packets=100)  # what every process's broadcasts run

    async def publish(first: int, count: int) -> None:
        for n in range(first, first + count):
            assert await publisher.emit("gap_tick", {"n": n}, "/", ["team:t"], None)

    try:
        await log.start()
        await publish(0, 5)
        assert await log.catch_up(0.5) == 5
        assert [n for n, _ in manager.missed] == [0, 1, 2, 3, 4]
        offsets = [offset for _, offset in manager.missed]
        assert all(compare(a, b) == -1 for a, b in itertools.pairwise(offsets))
        assert log.position == offsets[-1]
        assert await log.catch_up(0.5) == 0  # nothing new: nothing twice

        # Trimmed past the position (MAXLEN ~ drops whole stream nodes): not covered, nothing delivered.
        await publish(5, 250)
        assert await log.read(offsets[-1], await log.tail()) is None  # a reconnect from there is too_old
        assert await log.catch_up(0.5) is None
        assert len(manager.missed) == 5
        assert log.position == await log.tail()  # reconnects are not taken for recovered from before the gap

        # Redis lost its data (a new epoch): not covered either, and the position moves to the new epoch.
        before = log.position
        redis_server.client().flushall()
        await publish(255, 3)
        assert await log.catch_up(0.5) is None
        assert len(manager.missed) == 5
        assert compare(log.position, before) is None
        assert log.position == await log.tail()
    finally:
        await log.stop()
        await publisher.close()
        await manager.close()


async def test_entries_the_window_trimmed_refuse_a_catch_up_but_not_a_reconnect(redis_server: RedisServer) -> None:
    # A reconnecting client's session lives for the window: what the window trimmed went out while it was connected
    # (a quiet one got none of it and must still recover). A subscription that was away that long missed it.
    manager = Catching(redis_server.url)
    log = RedisRecoveryLog(manager, window=1, max_packets=1000)
    publisher = RemoteLogging(manager, window=1, max_packets=1000)
    try:
        await log.start()
        start = log.position
        for n in range(150):  # more than a stream node holds: the window trims whole nodes
            assert await publisher.emit("gap_tick", {"n": n}, "/", ["team:t"], None)
        await asyncio.sleep(1.1)
        assert await publisher.emit("gap_tick", {"n": 150}, "/", ["team:t"], None)
        entries = await log.read(start, await log.tail())
        assert entries is not None
        kept = [entry.args[0]["n"] for entry in entries]
        assert 0 < kept[0] < 150
        assert kept == list(range(kept[0], 151))
        assert await log.catch_up(1.5) is None  # away longer than the window: the trimmed entries may be missed
        assert manager.missed == []

        # Away a moment only: what the window trimmed was published before the gap, while this process listened
        # (a quiet process's position is often that old, above all on sharded Redis). No false alarm: what the
        # stream still holds after the position is delivered, and nobody is told to reconnect.
        log.gap_margin = 0
        await log.start()
        start = log.position
        for n in range(151, 301):
            assert await publisher.emit("gap_tick", {"n": n}, "/", ["team:t"], None)
        await asyncio.sleep(1.1)
        assert await publisher.emit("gap_tick", {"n": 301}, "/", ["team:t"], None)
        log._position = start
        delivered = await log.catch_up(0.2)
        assert delivered is not None
        assert [n for n, _ in manager.missed] == list(range(302 - delivered, 302))
    finally:
        await log.stop()
        await publisher.close()
        await manager.close()


async def test_a_packet_published_while_a_restore_subscribes_is_not_missed(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]],
    py_client: Connect,
    token: Token,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sharded channels: a restore subscribes the rooms' partitions (a round trip, the fence). A packet published
    # during any such pause of the restore must reach the client: replayed, or live once it is in its rooms.
    (bus_a, url_a), (bus_b, _) = await two_buses(redis_sharding=True, redis_partitions=4)
    manager = bus_a.sio.manager
    assert isinstance(manager, RedisManager)
    subscribe, during = manager.subscribe_rooms, []

    async def subscribe_while_publishing(namespace: str, rooms: list[str]) -> None:
        await subscribe(namespace, rooms)
        if armed:
            during.append(f"during {len(during)}")
            await bus_b.broadcast(MessageEvent(chat_id="42", text=during[-1]))
            await manager.fence()  # bus_a's listener has handled it: to chat:42's members here, if any

    armed = False
    monkeypatch.setattr(manager, "subscribe_rooms", subscribe_while_publishing)
    alice = await py_client(url_a, token=token("alice"))
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await alice.drop()
    await bus_b.broadcast(MessageEvent(chat_id="42", text="missed"))
    armed = True
    await alice.reconnect()
    armed = False
    assert alice.recovered
    assert during  # the restore did subscribe
    await bus_b.broadcast(MessageEvent(chat_id="42", text="after"))
    await alice.inbox.wait_for("message", len(during) + 2)
    await alice.fence(bus_a)  # nothing more may come: no packet twice
    assert [m["text"] for m in alice.received("message")] == ["missed", *during, "after"]


async def test_a_connection_lost_during_its_replay_resumes_after_what_it_got(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]], py_client: Connect, token: Token
) -> None:
    (bus_a, url_a), (bus_b, url_b) = await two_buses(redis_sharding=True, redis_partitions=4)
    alice = await py_client(url_a, token=token("alice"))
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await alice.drop()
    for n in range(5):
        await (bus_a, bus_b)[n % 2].broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
    lost = lose_replay_after(alice, 2)
    alice.url = url_b
    await alice.reconnect()
    assert alice.recovered
    await alice.fence(bus_b)
    assert [data[1]["text"] for data in lost] == ["missed 2", "missed 3", "missed 4"]
    await alice.drop()
    alice.url = url_a
    await alice.reconnect()
    assert alice.recovered
    await bus_b.broadcast(MessageEvent(chat_id="42", text="after"))
    await alice.inbox.wait_for("message", 6)
    await alice.fence(bus_a)
    assert [m["text"] for m in alice.received("message")] == [*(f"missed {n}" for n in range(5)), "after"]
