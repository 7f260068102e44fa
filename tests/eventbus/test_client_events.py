"""Typed client-to-server events and every refusal, over the wire with real clients."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, create_model
from typing_extensions import TypedDict

from eventbus import EventBus, EventBusSettings, JWTAuth, User
from events.binary import declares_bytes
from tests.clients import JSClient, PyClient, connect_error
from tests.eventbus import chat_handlers
from tests.sample import ChatRoom, LobbyRoom, MessageEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]


def make_bus(jwt_auth: JWTAuth, **settings: Any) -> EventBus:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], settings=EventBusSettings(**settings))
    chat_handlers.install(bus)
    return bus


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = make_bus(jwt_auth)
    return bus, await serve(bus.asgi_app())


async def in_chat(py_client: Connect, url: str, token: Token, *users: str) -> list[PyClient]:
    clients = [await py_client(url, token=token(user)) for user in users]
    for client in clients:
        assert (await client.call("join_chat", {"chat_id": "42"}))["ok"] is True
    return clients


async def test_handler_result_is_the_typed_ack_and_broadcast_goes_to_others(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice, bob = await in_chat(py_client, url, token, "alice", "bob")

    ack = await alice.call("send_message", {"chat_id": "42", "text": "hi"})

    assert ack == {"ok": True, "data": {"id": 1, "chat_id": "42"}}
    assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "text": "hi"}]
    await alice.fence(bus)
    assert alice.received("message") == []


async def test_handler_returning_none_acks_ok(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice, bob = await in_chat(py_client, url, token, "alice", "bob")

    assert await bob.call("typing", {"chat_id": "42"}) == {"ok": True}

    assert await alice.inbox.wait_for("typing") == [{"chat_id": "42", "user_id": "bob"}]
    await bob.fence(bus)
    assert bob.received("typing") == []


async def test_ctx_join_applies_can_join(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    carol = await py_client(url, token=token("carol"))

    assert await alice.call("enter_chat", {"chat_id": "42"}) == {"ok": True}
    assert await carol.call("enter_chat", {"chat_id": "42"}) == {
        "ok": False,
        "error": {"code": "forbidden", "message": "you may not join chat:42"},
    }
    await bus.broadcast(MessageEvent(chat_id="42", text="members only"))
    assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "members only"}]
    await carol.fence(bus)
    assert carol.received("message") == []


REFUSALS = [
    pytest.param(
        "send_message",
        {"chat_id": "42", "text": ""},
        {
            "ok": False,
            "error": {
                "code": "invalid_payload",
                "message": "send_message payload is not a valid SendMessage",
                "errors": [
                    {"loc": ["text"], "msg": "String should have at least 1 character", "type": "string_too_short"}
                ],
            },
        },
        id="invalid-payload",
    ),
    pytest.param(
        "send_message",
        [1, 2],
        {
            "ok": False,
            "error": {
                "code": "invalid_payload",
                "message": "send_message expects one object with chat_id, text (got an array)",
            },
        },
        id="not-an-object",
    ),
    pytest.param(
        "no_such_event",
        {"x": 1},
        {"ok": False, "error": {"code": "unknown_event", "message": "no handler for event 'no_such_event'"}},
        id="unknown-event",
    ),
    pytest.param(
        "close_chat",
        {"chat_id": "42"},
        {"ok": False, "error": {"code": "chat_closed", "message": "chat 42 no longer accepts messages"}},
        id="event-error",
    ),
    pytest.param(
        "explode",
        {},
        {"ok": False, "error": {"code": "internal", "message": "the server failed to handle this event"}},
        id="handler-exception",
    ),
]


@pytest.mark.parametrize(("event", "payload", "ack"), REFUSALS)
async def test_refusals_are_exact_acks_and_everyone_stays_served(
    served: tuple[EventBus, str], py_client: Connect, token: Token, event: str, payload: Any, ack: dict[str, Any]
) -> None:
    bus, url = served
    alice, bob = await in_chat(py_client, url, token, "alice", "bob")

    assert await alice.call(event, payload) == ack

    assert alice.sio.connected
    await alice.emit(event, payload)  # the same without asking for an ack: nothing comes back, nothing breaks
    assert (await alice.call("send_message", {"chat_id": "42", "text": "after"}))["ok"] is True
    assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "text": "after"}]
    await bus.broadcast(MessageEvent(chat_id="42", text="to all"))
    assert [m["text"] for m in await alice.inbox.wait_for("message")] == ["to all"]


async def test_handler_exception_is_logged_with_event_and_sid(
    served: tuple[EventBus, str], py_client: Connect, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = served
    alice = await py_client(url, token=token("alice"))
    with caplog.at_level(logging.ERROR, logger="eventbus"):
        await alice.call("explode", {})
    [record] = [r for r in caplog.records if r.name == "eventbus.inbound.handlers"]
    assert record.getMessage() == f"handler for 'explode' failed: sid={alice.sid} user=alice"
    assert record.exc_text is not None
    assert "database on fire" in record.exc_text


async def test_flood_hits_the_rate_limit_while_another_client_is_served(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = make_bus(jwt_auth, rate_limit=5, rate_burst=10)
    url = await serve(bus.asgi_app())
    alice, bob = await in_chat(py_client, url, token, "alice", "bob")  # one join each spent from the burst

    flood = await asyncio.gather(*(alice.call("typing", {"chat_id": "42"}) for _ in range(40)))
    steady = [await bob.call("send_message", {"chat_id": "42", "text": str(i)}) for i in range(5)]

    limited = [ack for ack in flood if not ack["ok"]]
    assert 20 <= len(limited) <= 31
    assert limited[0] == {"ok": False, "error": {"code": "rate_limited", "message": "more than 5 events per second"}}
    assert all(ack["ok"] for ack in steady)
    assert [m["text"] for m in await alice.inbox.wait_for("message", 5)] == ["0", "1", "2", "3", "4"]
    assert alice.sio.connected


async def test_room_limit(jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token) -> None:
    bus = make_bus(jwt_auth, max_rooms=1)
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))

    assert (await alice.call("join_lobby"))["ok"] is True
    assert await alice.call("join_chat", {"chat_id": "42"}) == {
        "ok": False,
        "error": {"code": "too_many_rooms", "message": "a connection may be in at most 1 rooms"},
    }
    assert await alice.call("join_lobby") == {"ok": True, "room": "lobby"}  # already in: not a new room
    assert (await alice.call("leave_lobby"))["ok"] is True
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"] is True


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_oversized_message_closes_only_the_sender(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token, transport: str
) -> None:
    bus = make_bus(jwt_auth, max_payload_bytes=10_000)
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"), transports=[transport])
    bob = await py_client(url, token=token("bob"))
    await bob.call("join_chat", {"chat_id": "42"})

    await alice.emit("send_message", {"chat_id": "42", "text": "x" * 20_000})
    for _ in range(100):
        if not alice.sio.connected:
            break
        await asyncio.sleep(0.05)

    assert not alice.sio.connected
    await bus.broadcast(MessageEvent(chat_id="42", text="bob is fine"))
    assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "text": "bob is fine"}]
    assert (await bob.call("typing", {"chat_id": "42"})) == {"ok": True}


async def test_connect_guard_refuses_with_forbidden(jwt_auth: JWTAuth, serve: Serve, token: Token) -> None:
    def not_banned(user: User | None, environ: Any) -> bool:
        return user is not None and user.id != "mallory"

    bus = EventBus(auth=jwt_auth, authorize=not_banned)
    url = await serve(bus.asgi_app())
    assert await connect_error(url, auth={"token": token("mallory")}) == {"message": "forbidden"}


async def test_expired_token_disconnects_and_a_fresh_one_reconnects(
    served: tuple[EventBus, str], js_client: StartJS, token: Token
) -> None:
    bus, url = served
    page = await js_client(url, token=token("alice", ttl=2))
    assert (await page.call("join_chat", {"chat_id": "42"}))["ok"] is True

    assert await page.inbox.wait_for("session_expired", timeout=6) == [{"reason": "token_expired"}]
    await page.inbox.wait_for("__lifecycle__", 2)
    assert page.lifecycle()[1] == {"type": "disconnect", "reason": "io server disconnect"}

    await page.refresh_token(token("alice", ttl=600))
    await page.inbox.wait_for("__lifecycle__", 3)
    assert page.lifecycle()[2]["type"] == "connect"
    assert (await page.call("join_chat", {"chat_id": "42"}))["ok"] is True
    await bus.broadcast(MessageEvent(chat_id="42", text="welcome back"))
    assert await page.inbox.wait_for("message") == [{"chat_id": "42", "text": "welcome back"}]


class _Blob(BaseModel):
    data: bytes


class _Meta(TypedDict):
    thumbnail: bytes


@dataclasses.dataclass
class _Frame:
    payload: list[bytes]


class _Text(BaseModel):
    text: str
    counts: dict[str, list[int]] = Field(default_factory=dict)


@pytest.mark.parametrize(
    ("annotation", "declared"),
    [
        pytest.param(bytes, True, id="bytes"),
        pytest.param(Annotated[bytes, Field(max_length=10)], True, id="annotated"),
        pytest.param(bytes | None, True, id="optional"),
        pytest.param(list[_Blob], True, id="nested-model-in-a-list"),
        pytest.param(dict[str, tuple[int, _Blob | None]], True, id="deep-in-containers"),
        pytest.param(_Meta, True, id="typeddict"),
        pytest.param(_Frame, True, id="dataclass"),
        pytest.param(_Text, False, id="text-model"),
        pytest.param(str | int | list[str], False, id="no-bytes"),
    ],
)
def test_declares_bytes_finds_a_bytes_field_anywhere(annotation: Any, declared: bool) -> None:
    model = create_model("Probe", field=(annotation, ...))
    assert declares_bytes(model) is declared
