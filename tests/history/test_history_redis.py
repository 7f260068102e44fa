"""Per-room history on a real redis-server, shared by two buses: positions agree, the epoch changes with lost data."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import Emitter, EventBus, JWTAuth
from eventbus.settings import EventBusSettings
from tests.clients import PyClient
from tests.history.rooms import FeedRoom, PostEvent
from tests.redis_server import RedisServer
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
KEY = "history-signing-key-0123456789abcdef"


@pytest.fixture
def two_buses(
    jwt_auth: JWTAuth, serve: Serve, redis_server: RedisServer
) -> Callable[..., Awaitable[list[tuple[EventBus, str]]]]:
    async def start(**options: Any) -> list[tuple[EventBus, str]]:
        channel = f"history-{uuid.uuid4().hex[:8]}"
        served = []
        for _ in range(2):
            bus = EventBus(
                auth=jwt_auth,
                rooms=[FeedRoom],
                redis_url=redis_server.url,
                redis_channel=channel,
                redis_signing_key=KEY,
                **options,
            )
            served.append((bus, await serve(bus.asgi_app())))
        return served

    return start


def numbers(publications: list[dict[str, Any]]) -> list[int]:
    return [p["data"]["n"] for p in publications]


async def test_positions_are_shared_and_a_rejoin_on_the_other_process_gets_the_missed_ones(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]], py_client: Connect, token: Token
) -> None:
    (bus_a, url_a), (bus_b, url_b) = await two_buses()
    alice = await py_client(url_a, token=token("alice"))
    first = await alice.call("join_feed", {"feed_id": "f"})
    assert first["recovered"] is False
    assert first["position"]["offset"] == 0
    await bus_a.broadcast(PostEvent(feed_id="f", n=1))
    await bus_b.broadcast(PostEvent(feed_id="f", n=2))
    received = await alice.inbox.wait_for("post", 2)
    assert [positions["feed:f"]["offset"] for _, positions in received] == [1, 2]
    last = received[-1][1]["feed:f"]
    await alice.close()
    for n in range(3, 6):
        await (bus_a, bus_b)[n % 2].broadcast(PostEvent(feed_id="f", n=n))
    again = await py_client(url_b, token=token("alice"))
    ack = await again.call("join_feed", {"feed_id": "f", "since": last})
    assert ack["recovered"] is True
    assert numbers(ack["publications"]) == [3, 4, 5]
    reply = await again.call("history", {"room": "feed:f", "limit": 3})
    assert numbers(reply["data"]["publications"]) == [3, 4, 5]


async def test_after_a_redis_restart_without_persistence_the_epoch_changes(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]],
    py_client: Connect,
    token: Token,
    redis_server: RedisServer,
) -> None:
    (bus_a, url_a), _ = await two_buses()
    alice = await py_client(url_a, token=token("alice"))
    await alice.call("join_feed", {"feed_id": "f"})
    await bus_a.broadcast(PostEvent(feed_id="f", n=1))
    [(_, positions)] = await alice.inbox.wait_for("post")
    redis_server.stop()
    redis_server.start()
    await wait_until(lambda: bus_a.sio.manager.subscribed.is_set(), "resubscribed", timeout=15)
    ack = await alice.call("join_feed", {"feed_id": "f", "since": positions["feed:f"]})
    assert ack["recovered"] is False
    assert ack["publications"] == []
    assert ack["position"]["epoch"] != positions["feed:f"]["epoch"]
    assert ack["position"]["offset"] == 0


async def test_recovery_replays_history_events_with_their_positions(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]], py_client: Connect, token: Token
) -> None:
    (_bus_a, url_a), (bus_b, url_b) = await two_buses(recovery_window=60)
    alice = await py_client(url_a, token=token("alice"))
    await alice.call("join_feed", {"feed_id": "f"})
    await bus_b.broadcast(PostEvent(feed_id="f", n=1))
    await alice.inbox.wait_for("post")
    await alice.drop()
    await bus_b.broadcast(PostEvent(feed_id="f", n=2))
    alice.url = url_b
    await alice.reconnect()
    assert alice.recovered
    received = await alice.inbox.wait_for("post", 2)
    assert [(payload["n"], positions["feed:f"]["offset"]) for payload, positions in received] == [(1, 1), (2, 2)]


async def test_an_emitters_events_get_positions_and_are_recovered(
    two_buses: Callable[..., Awaitable[list[tuple[EventBus, str]]]],
    py_client: Connect,
    token: Token,
    redis_server: RedisServer,
) -> None:
    (bus_a, url_a), _ = await two_buses(recovery_window=60)
    emitter = Emitter(
        redis_server.url,
        channel=bus_a.settings.redis_channel,
        signing_key=KEY,
        settings=EventBusSettings(recovery_window=60),
    )
    try:
        alice = await py_client(url_a, token=token("alice"))
        await alice.call("join_feed", {"feed_id": "f"})
        await emitter.broadcast(PostEvent(feed_id="f", n=1))
        await alice.inbox.wait_for("post")
        await alice.drop()
        await emitter.broadcast(PostEvent(feed_id="f", n=2))
        await alice.reconnect()
        assert alice.recovered
        received = await alice.inbox.wait_for("post", 2)
        assert [(payload["n"], positions["feed:f"]["offset"]) for payload, positions in received] == [(1, 1), (2, 2)]
    finally:
        await emitter.close()
