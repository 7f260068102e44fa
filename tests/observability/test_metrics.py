"""Prometheus metrics over the wire: known traffic in, the scraped ``/metrics`` text parsed, every count checked."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventbus import Context, EventBus, EventError, JWTAuth
from eventbus.observability.recorder import UNKNOWN_EVENT
from eventbus.testing import SocketTestClient, connect_error
from tests.raw import RawWebSocket
from tests.redis_server import RedisServer
from tests.sample import ChatRoom, MessageAccepted, MessageEvent, NoticeEvent, SendMessage
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]
KEY = "metrics-test-signing-key-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str, path: str = "/metrics") -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def metered_bus(jwt_auth: JWTAuth, **options: Any) -> EventBus:
    bus = EventBus(
        auth=jwt_auth,
        rooms=[ChatRoom],
        metrics=True,
        authorize=lambda user, _: user is None or user.id != "mallory",
        **options,
    )

    @bus.on(SendMessage)
    async def send(ctx: Context, msg: SendMessage) -> MessageAccepted:
        if msg.text == "boom":
            raise RuntimeError("a handler bug")
        if msg.text == "closed":
            raise EventError("chat_closed", "this chat is closed")
        return MessageAccepted(id=1, chat_id=msg.chat_id)

    return bus


@pytest.mark.redis
async def test_scraped_counters_equal_the_traffic_and_gauges_return_to_zero(
    jwt_auth: JWTAuth, token: Token, serve: Serve, stack: AsyncExitStack, redis_server: RedisServer
) -> None:
    bus = metered_bus(jwt_auth, redis_url=redis_server.url, redis_signing_key=KEY, rate_limit=0.01, rate_burst=20)
    url = await serve(bus.asgi_app())
    names = ["alice", "bob", "carol", "dave", "spammer"]
    clients = {}
    for name in names:
        clients[name] = await SocketTestClient(url, token=token(name)).connect()
        stack.push_async_callback(clients[name].close)
    assert (await connect_error(url, auth={"token": "not-a-jwt"}))["message"] == "unauthorized"
    assert (await connect_error(url, auth={"token": token("mallory")}))["message"] == "forbidden"

    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    joins = [await c.call("join_chat", {"chat_id": "42"}) for c in (alice, bob, carol)]
    assert [j["ok"] for j in joins] == [True, True, False]
    live = await scrape(url)
    assert value(live, "eventbus_connections", app="/", transport="websocket") == len(names)
    assert value(live, "eventbus_users", app="/") == len(names)
    assert value(live, "eventbus_rooms", app="/") == len(names) + 1  # each user: room, and chat:42

    broadcasts = 3
    for n in range(broadcasts):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"m{n}"))
    await alice.inbox.wait_for("message", broadcasts)
    await bus.emit_to_all(NoticeEvent(text="to everyone"))
    await bus.emit_to_user("carol", "custom_untyped", {"x": 1})

    acks = [
        await carol.call("send_message", {"chat_id": "42", "text": "hello"}),
        await carol.call("send_message", {"chat_id": "42", "text": "closed"}),
        await carol.call("send_message", {"chat_id": "42", "text": "boom"}),
        await carol.call("send_message", {"chat_id": "42", "text": ""}),
        await carol.call("no_such_event", {}),
    ]
    assert [a.get("error", {}).get("code", "ok") for a in acks] == [
        "ok",
        "chat_closed",
        "internal",
        "invalid_payload",
        "unknown_event",
    ]
    spam = [await clients["spammer"].call("send_message", {"chat_id": "1", "text": "x"}) for _ in range(21)]
    assert spam[-1]["error"]["code"] == "rate_limited"

    # Straight onto the channel, as an attacker with Redis access would: one unsigned, one with a wrong signature.
    plain = {"method": "emit", "event": "message", "data": [{"chat_id": "42", "text": "evil"}], "namespace": "/"}
    with redis_server.client() as publisher:
        publisher.publish("eventbus", json.dumps(plain))
        publisher.publish("eventbus", "eb1." + "0" * 64 + "." + json.dumps({"ts": 0, "nonce": "n", "msg": plain}))
    registry = bus.metrics.registry if bus.metrics else None
    assert registry is not None
    await wait_until(
        lambda: (registry.get_sample_value("eventbus_redis_messages_dropped_total", {"reason": "forged"}) or 0) == 1,
        "the forged message to be dropped",
    )

    for client in clients.values():
        await client.close()
    await wait_until(lambda: bus.connection_count() == 0, "every client to be gone")
    done = await scrape(url)

    expected = {
        ("eventbus_connects_total", (("app", "/"), ("result", "accepted"))): len(names),
        ("eventbus_connects_total", (("app", "/"), ("result", "unauthorized"))): 1,
        ("eventbus_connects_total", (("app", "/"), ("result", "forbidden"))): 1,
        ("eventbus_joins_total", (("app", "/"), ("code", "ok"), ("room_prefix", "chat"))): 2,
        ("eventbus_joins_total", (("app", "/"), ("code", "forbidden"), ("room_prefix", "chat"))): 1,
        ("eventbus_messages_sent_total", (("app", "/"), ("event", "message"))): broadcasts,
        ("eventbus_deliveries_total", (("app", "/"), ("event", "message"))): broadcasts * 2,
        ("eventbus_messages_sent_total", (("app", "/"), ("event", "notice"))): 1,
        ("eventbus_deliveries_total", (("app", "/"), ("event", "notice"))): len(names),
        ("eventbus_messages_sent_total", (("app", "/"), ("event", "_untyped"))): 1,
        ("eventbus_deliveries_total", (("app", "/"), ("event", "_untyped"))): 1,
        ("eventbus_client_events_total", (("app", "/"), ("code", "ok"), ("event", "send_message"))): 1 + 20,
        ("eventbus_client_events_total", (("app", "/"), ("code", "chat_closed"), ("event", "send_message"))): 1,
        ("eventbus_client_events_total", (("app", "/"), ("code", "internal"), ("event", "send_message"))): 1,
        ("eventbus_client_events_total", (("app", "/"), ("code", "invalid_payload"), ("event", "send_message"))): 1,
        ("eventbus_client_events_total", (("app", "/"), ("code", "rate_limited"), ("event", "send_message"))): 1,
        ("eventbus_client_events_total", (("app", "/"), ("code", "unknown_event"), ("event", UNKNOWN_EVENT))): 1,
        ("eventbus_client_event_duration_seconds_count", (("app", "/"), ("event", "send_message"))): 25,
        ("eventbus_broadcast_duration_seconds_count", (("app", "/"),)): broadcasts + 2,
        ("eventbus_redis_messages_dropped_total", (("reason", "unsigned"),)): 1,
        ("eventbus_redis_messages_dropped_total", (("reason", "forged"),)): 1,
        ("eventbus_redis_publish_errors_total", ()): 0,
        ("eventbus_redis_resubscribes_total", ()): 0,
    }
    # The test client closes its transport with its DISCONNECT packet: either reason may arrive first.
    ended = {dict(labels)["reason"]: n for (name, labels), n in done.items() if name == "eventbus_disconnects_total"}
    assert set(ended) <= {"client", "transport_close"}
    assert sum(ended.values()) == len(names)
    counted = {(name, labels): done.get((name, frozenset(labels)), 0.0) for name, labels in expected}
    assert counted == expected
    # Nothing counted that the traffic did not produce: every series of these counters is one listed above.
    for name, labels in done:
        if name.endswith("_total") and name != "eventbus_disconnects_total" and done[(name, labels)]:
            assert (name, tuple(sorted(labels))) in {(n, tuple(sorted(lb))) for n, lb in expected}, (name, labels)
    for transport in ("polling", "websocket"):
        assert value(done, "eventbus_connections", app="/", transport=transport) == 0
    assert value(done, "eventbus_users", app="/") == 0
    assert value(done, "eventbus_rooms", app="/") == 0


async def test_ten_thousand_unknown_event_names_add_no_series(jwt_auth: JWTAuth, token: Token, serve: Serve) -> None:
    bus = metered_bus(jwt_auth, rate_limit=1e6, rate_burst=1_000_000)
    url = await serve(bus.asgi_app())
    client = await SocketTestClient(url, token=token("alice")).connect()
    await client.call("unknown_0", {})
    before = await scrape(url)
    for n in range(1, 10_000):
        await client.emit(f"unknown_{n}", {})
    await client.call("unknown_last", {})  # acks come in order: every emit above has been handled
    after = await scrape(url)
    await client.close()
    assert set(after) == set(before)
    assert value(after, "eventbus_client_events_total", app="/", event=UNKNOWN_EVENT, code="unknown_event") == 10_001
    assert not any("unknown_1" in str(labels) for _, labels in after)


def test_metrics_are_off_by_default_and_the_endpoint_only_when_on(jwt_auth: JWTAuth) -> None:
    assert EventBus(auth=jwt_auth).metrics is None
    bus = EventBus(auth=jwt_auth, metrics=True, metrics_path="/ops/metrics")
    assert bus.settings.metrics_path == "/ops/metrics"
    assert bus.metrics is not None
    assert bus.metrics.registry.get_sample_value("eventbus_users", {"app": "/"}) == 0


async def test_the_registry_can_join_an_applications_own(jwt_auth: JWTAuth) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    mine = CollectorRegistry()
    bus = EventBus(auth=jwt_auth, metrics=True)
    assert bus.metrics is not None
    mine.register(bus.metrics.registry)
    assert b"eventbus_connects_total" in generate_latest(mine)


async def test_recovery_outcomes_token_expiry_and_kicks_are_counted(
    jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    bus = metered_bus(jwt_auth, recovery_window=60)
    url = await serve(bus.asgi_app())
    alice = await SocketTestClient(url, token=token("alice")).connect()
    await alice.drop()
    await wait_until(lambda: bus.connection_count() == 0, "the server to notice the drop")
    await alice.reconnect()
    assert alice.recovered
    short = await SocketTestClient(url, token=token("bob", ttl=1)).connect()
    await short.inbox.wait_for("session_expired", timeout=10)
    await bus.disconnect_user("alice", reason="banned")
    await wait_until(lambda: bus.connection_count() == 0, "every client to be gone")
    samples = await scrape(url)
    assert value(samples, "eventbus_disconnects_total", app="/", reason="kicked") == 1
    assert value(samples, "eventbus_recovery_total", app="/", outcome="recovered") == 1
    assert value(samples, "eventbus_disconnects_total", app="/", reason="token_expired") == 1
    assert value(samples, "eventbus_disconnects_total", app="/", reason="transport_close") >= 1  # the drop


async def test_refused_packets_are_counted(
    jwt_auth: JWTAuth, token: Token, serve: Serve, stack: AsyncExitStack
) -> None:
    bus = metered_bus(jwt_auth)
    url = await serve(bus.asgi_app())
    raw = RawWebSocket(url)
    stack.push_async_callback(raw.close)
    await raw.open(token("alice"))
    for frame in ("427[]", "427[123,{}]"):  # no event name: answered invalid_packet, before python-socketio decodes
        await raw.send(frame)
        reply = await raw.recv()
        assert isinstance(reply, str)
        assert "invalid_packet" in reply
    samples = await scrape(url)
    assert value(samples, "eventbus_invalid_packets_total", app="/") == 2
