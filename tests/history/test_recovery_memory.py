"""Connection state recovery on one process, with eventbus.testing's client over the wire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from eventbus import EventBus, JWTAuth
from eventbus.settings import EventBusSettings
from tests.clients import PyClient
from tests.sample import ChatRoom, LobbyRoom, MessageEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


async def test_dropped_client_gets_missed_events_in_order_and_keeps_its_rooms(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], settings=EventBusSettings(recovery_window=60))
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await bus.broadcast(MessageEvent(chat_id="42", text="before"))
    await alice.inbox.wait_for("message", 1)
    await alice.drop()
    for n in range(5):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
    await alice.reconnect()
    assert alice.recovered
    await bus.broadcast(MessageEvent(chat_id="42", text="after"))
    received = await alice.inbox.wait_for("message", 7)
    assert [m["text"] for m in received] == ["before", *(f"missed {n}" for n in range(5)), "after"]
