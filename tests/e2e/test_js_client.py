"""The frontend path: the real socket.io-client from npm, over websocket and long-polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from tests.clients import JSClient
from tests.sample import ChatRoom, LobbyRoom, MessageEvent

pytestmark = pytest.mark.node

Serve = Callable[[Any], Awaitable[str]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom])
    return bus, await serve(bus.asgi_app())


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_browser_client_joins_and_receives_typed_broadcast(
    served: tuple[EventBus, str], js_client: StartJS, token: Token, transport: str
) -> None:
    bus, url = served
    alice = await js_client(url, token=token("alice"), transports=[transport])
    carol = await js_client(url, token=token("carol"), transports=[transport])
    assert alice.inbox.events["__lifecycle__"][0]["type"] == "connect"

    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    assert await carol.call("join_chat", {"chat_id": "42"}) == {
        "ok": False,
        "error": {"code": "forbidden", "message": "you may not join chat:42"},
    }
    await bus.broadcast(MessageEvent(chat_id="42", text="hello browser"))

    assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "hello browser"}]
    await bus.emit_to_user("carol", "ping", {"n": 1})  # carol is still connected and served after the refusal
    assert await carol.inbox.wait_for("ping") == [{"n": 1}]
    assert carol.received_events() == ["ping"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_browser_client_without_token_gets_unauthorized(
    served: tuple[EventBus, str], js_client: StartJS, transport: str
) -> None:
    _, url = served
    client = await js_client(url, transports=[transport])
    assert client.inbox.events["__lifecycle__"][0] == {
        "type": "connect_error",
        "message": "unauthorized",
        "data": None,
    }


async def test_browser_token_from_authorization_header(
    served: tuple[EventBus, str], js_client: StartJS, token: Token
) -> None:
    bus, url = served
    # Node's client may send headers (browsers cannot): the server's second token source.
    client = await js_client(url, headers={"Authorization": f"Bearer {token('bob')}"}, transports=["polling"])
    assert client.inbox.events["__lifecycle__"][0]["type"] == "connect"
    await bus.emit_to_user("bob", "hello", {"via": "header"})
    assert await client.inbox.wait_for("hello") == [{"via": "header"}]


async def test_bad_join_payload_from_browser(served: tuple[EventBus, str], js_client: StartJS, token: Token) -> None:
    _, url = served
    alice = await js_client(url, token=token("alice"))
    ack = await alice.call("join_chat", "42")
    assert ack == {
        "ok": False,
        "error": {"code": "invalid_payload", "message": "join_chat expects one object with chat_id (got a string)"},
    }
    assert await alice.call("join_lobby") == {"ok": True, "room": "lobby"}
