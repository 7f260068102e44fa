"""Connection state recovery with the stock socket.io-client 4.8 from npm: one process, websocket and long-polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from tests.clients import JSClient
from tests.e2e.cluster import Cluster
from tests.sample import ChatRoom, LobbyRoom, MessageEvent

pytestmark = pytest.mark.node

Serve = Callable[[Any], Awaitable[str]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]


def texts(client: JSClient) -> list[str]:
    # With recovery on, every event's last argument is its offset (what socket.io-client keeps as _lastOffset).
    received = client.received("message")
    assert all(isinstance(args, list) and isinstance(args[-1], str) for args in received), received
    return [args[0]["text"] for args in received]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_stock_client_recovers_missed_events_and_rooms(
    jwt_auth: JWTAuth, serve: Serve, js_client: StartJS, token: Token, transport: str
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], recovery_window=60)
    url = await serve(bus.asgi_app())
    alice = await js_client(url, token=token("alice"), transports=[transport])
    assert alice.lifecycle()[0]["recovered"] is False
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await alice.drop()
    assert alice.lifecycle()[-1]["type"] == "disconnect"
    for n in range(5):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
    connected = await alice.reconnect()
    assert connected["type"] == "connect"
    assert connected["recovered"] is True
    await bus.broadcast(MessageEvent(chat_id="42", text="after"))  # still in chat:42: no rejoin
    await alice.inbox.wait_for("message", 6)
    assert texts(alice) == [*(f"missed {n}" for n in range(5)), "after"]


async def test_stock_client_disconnecting_itself_is_not_recovered(
    jwt_auth: JWTAuth, serve: Serve, js_client: StartJS, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], recovery_window=60)
    url = await serve(bus.asgi_app())
    alice = await js_client(url, token=token("alice"))
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await bus.broadcast(MessageEvent(chat_id="42", text="seen"))
    await alice.inbox.wait_for("message")
    count = len(alice.lifecycle())
    await alice._command({"cmd": "disconnect"})  # socket.disconnect(): a Socket.IO DISCONNECT, not a lost network
    await alice.inbox.wait_for("__lifecycle__", count + 1)
    await bus.broadcast(MessageEvent(chat_id="42", text="while away"))
    connected = await alice.reconnect()
    assert connected["recovered"] is False
    await bus.broadcast(MessageEvent(chat_id="42", text="not in the room any more"))
    await bus.emit_to_user("alice", "ping", {})
    await alice.inbox.wait_for("ping")
    assert texts(alice) == ["seen"]


@pytest.mark.redis
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_stock_client_recovers_on_the_other_server_process(
    cluster: Callable[..., Awaitable[Cluster]], js_client: StartJS, token: Token, transport: str
) -> None:
    started = await cluster(recovery_window="60")
    server_a, server_b = started.servers
    alice = await js_client(server_a.url, token=token("alice"), transports=[transport])
    assert await alice.call("join_team", {"team_id": "t1"}) == {"ok": True, "room": "team:t1"}
    await alice.drop()
    ticks = [{"op": "broadcast", "event": {"source": "A", "seq": n, "teams": ["t1"]}} for n in range(4)]
    assert await server_a.run(ticks[:2]) == [{"ok": True}] * 2
    assert await server_b.run(ticks[2:]) == [{"ok": True}] * 2
    connected = await alice.reconnect(server_b.url)
    assert connected["recovered"] is True, started.logs()
    assert await server_a.run([{"op": "broadcast", "event": {"source": "A", "seq": 4, "teams": ["t1"]}}])
    await alice.inbox.wait_for("tick", 5)
    assert [args[0]["seq"] for args in alice.received("tick")] == [0, 1, 2, 3, 4]
