"""Connection state recovery with the stock socket.io-client 4.8 from npm: one process, websocket and long-polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from eventbus.settings import EventBusSettings
from tests.clients import JSClient
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
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], settings=EventBusSettings(recovery_window=60))
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
