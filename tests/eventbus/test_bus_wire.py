"""The foundation over the wire: a real uvicorn server, python-socketio clients, typed joins and broadcasts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth, broadcast
from tests.clients import PyClient
from tests.sample import AnnouncementEvent, BoardRoom, ChatRoom, LobbyRoom, MessageEvent, NoticeEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]

TRANSPORTS = [pytest.param(["websocket"], id="websocket"), pytest.param(["polling"], id="polling")]


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom, BoardRoom])
    return bus, await serve(bus.asgi_app())


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_member_joins_and_receives_typed_broadcast(
    served: tuple[EventBus, str], py_client: Connect, token: Token, transports: list[str]
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"), transports=transports)
    carol = await py_client(url, token=token("carol"), transports=transports)
    assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    assert await carol.call("join_chat", {"chat_id": "7"}) == {"ok": True, "room": "chat:7"}

    await broadcast(MessageEvent(chat_id="42", text="hi"))

    assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "hi"}]
    await carol.fence(bus)
    assert carol.received("message") == []


async def test_client_in_several_target_rooms_receives_once(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    for room in ("chat", "lobby"):
        payload = {"chat_id": "42"} if room == "chat" else {}
        assert (await alice.call(f"join_{room}", payload))["ok"] is True
    assert (await bob.call("join_lobby"))["ok"] is True

    await bus.broadcast(AnnouncementEvent(chats=["42", "7"], text="maintenance"))

    for client in (alice, bob):
        await client.fence(bus)
        assert client.received("announcement") == [{"chats": ["42", "7"], "text": "maintenance"}]


async def test_exclude_skips_the_sender(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    for client in (alice, bob):
        await client.call("join_chat", {"chat_id": "42"})

    await bus.broadcast(MessageEvent(chat_id="42", text="to others"), exclude=alice.sio.get_sid())

    assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "text": "to others"}]
    await alice.fence(bus)
    assert alice.received("message") == []


async def test_every_connection_joins_its_user_room(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    tabs = [await py_client(url, token=token("dana")) for _ in range(2)]
    other = await py_client(url, token=token("erin"))

    await bus.emit_to_user("dana", NoticeEvent(text="for dana"))

    for tab in tabs:
        assert await tab.inbox.wait_for("notice") == [{"text": "for dana"}]
    await other.fence(bus)
    assert other.received("notice") == []


async def test_emit_to_all_and_untyped_gateway(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    await bob.call("join_chat", {"chat_id": "42"})

    await bus.emit_to_all(NoticeEvent(text="everyone"))
    await bus.emit_to_room("chat:42", "legacy_message", {"raw": True})
    await bus.emit_to_user("alice", "legacy_ping", [1, 2])

    assert await alice.inbox.wait_for("notice") == [{"text": "everyone"}]
    assert await bob.inbox.wait_for("notice") == [{"text": "everyone"}]
    assert await bob.inbox.wait_for("legacy_message") == [{"raw": True}]
    assert await alice.inbox.wait_for("legacy_ping") == [[1, 2]]
    await alice.fence(bus)
    assert alice.received("legacy_message") == []


async def test_server_side_join_and_leave(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    sid = alice.sio.get_sid()
    assert sid is not None

    await bus.join_room(sid, ChatRoom(chat_id="7"))  # the server decides: can_join is not asked
    await bus.emit_to_room(ChatRoom(chat_id="7"), NoticeEvent(text="in"))
    await bus.leave_room(sid, "chat:7")
    await bus.emit_to_room(ChatRoom(chat_id="7"), NoticeEvent(text="out"))

    await alice.fence(bus)
    assert alice.received("notice") == [{"text": "in"}]


async def test_leave_stops_delivery(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    await alice.call("join_chat", {"chat_id": "42"})
    assert await alice.call("leave_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}

    await bus.broadcast(MessageEvent(chat_id="42", text="gone"))

    await alice.fence(bus)
    assert alice.received("message") == []


async def test_sending_to_nobody_is_silent(served: tuple[EventBus, str]) -> None:
    bus, _ = served
    await bus.emit_to_user("nobody-connected", NoticeEvent(text="x"))
    await bus.emit_to_room("chat:empty", NoticeEvent(text="x"))
    await bus.broadcast(MessageEvent(chat_id="404", text="x"))


async def test_claims_reach_can_join(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    _, url = served
    acme = await py_client(url, token=token("frank", org="acme"))
    assert await acme.call("join_board", {"org": "acme", "board": 3}) == {"ok": True, "room": "board:acme:3"}
    refused = await acme.call("join_board", {"org": "globex", "board": 3})
    assert refused["error"]["code"] == "forbidden"


async def test_broadcasts_run_concurrently(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    await alice.call("join_chat", {"chat_id": "42"})

    await asyncio.gather(*(bus.broadcast(MessageEvent(chat_id="42", text=str(i))) for i in range(50)))

    received = await alice.inbox.wait_for("message", 50)
    assert sorted(int(m["text"]) for m in received) == list(range(50))
