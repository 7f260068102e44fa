"""Connection state recovery on one process, over the wire with eventbus.testing's client: the rules, case by case."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import socketio

from eventbus import EventBus, JWTAuth
from tests.clients import PyClient, lose_replay_after
from tests.history.rooms import DeskRoom
from tests.sample import CHAT_MEMBERS, ChatRoom, LobbyRoom, MessageEvent, NoticeEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], recovery_window=60)
    return bus, await serve(bus.asgi_app())


async def joined_and_dropped(bus: EventBus, url: str, py_client: Connect, token: str) -> PyClient:
    """A client in chat:42 and the lobby that received one message, then lost its connection."""
    client = await py_client(url, token=token)
    assert (await client.call("join_chat", {"chat_id": "42"}))["ok"]
    assert (await client.call("join_lobby", {}))["ok"]
    await bus.broadcast(MessageEvent(chat_id="42", text="before"))
    await client.inbox.wait_for("message", 1)
    await client.drop()
    return client


def texts(client: PyClient) -> list[str]:
    return [m["text"] for m in client.received("message")]


async def test_missed_events_arrive_once_in_order_and_rooms_are_kept(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    for n in range(5):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
    await bus.emit_to_user("alice", NoticeEvent(text="for alice"))
    await bus.broadcast(MessageEvent(chat_id="7", text="not her chat"))
    await alice.reconnect()
    assert alice.recovered
    await bus.broadcast(MessageEvent(chat_id="42", text="after"))  # no rejoin needed
    await alice.inbox.wait_for("message", 7)
    await alice.fence(bus)
    assert texts(alice) == ["before", *(f"missed {n}" for n in range(5)), "after"]
    assert alice.received("notice") == [{"text": "for alice"}]
    assert sorted(bus.joined_rooms(alice.sid)) == ["chat:42", "lobby"]
    assert bus.delivery_counts() == {"recovery.recovered": 1}


async def test_a_client_that_received_nothing_yet_recovers_from_its_start(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    # socket.io-client sends no offset before its first event: the session's start stands in for it.
    bus, url = served
    await bus.broadcast(MessageEvent(chat_id="42", text="long before"))
    bob = await py_client(url, token=token("bob"))
    assert (await bob.call("join_chat", {"chat_id": "42"}))["ok"]
    await bob.drop()
    await bus.broadcast(MessageEvent(chat_id="42", text="missed"))
    await bob.reconnect()
    assert bob.recovered
    await bob.inbox.wait_for("message")
    await bob.fence(bus)
    assert texts(bob) == ["missed"]


async def test_excluded_events_stay_excluded(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    old_sid = alice.sid
    await alice.drop()
    await bus.broadcast(MessageEvent(chat_id="42", text="her own"), exclude=old_sid)
    await bus.broadcast(MessageEvent(chat_id="42", text="from bob"))
    await alice.reconnect()
    assert alice.recovered
    await alice.fence(bus)
    assert texts(alice) == ["from bob"]


async def test_acks_are_not_replayed(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    assert alice.sio.recovery_auth()["offset"]
    await alice.reconnect()
    assert alice.recovered
    await alice.fence(bus)
    assert alice.received("message") == [{"chat_id": "42", "text": "before"}]
    assert set(alice.inbox.events) <= {"message", "__eventbus_fence__"}


async def test_a_room_whose_can_join_now_refuses_is_dropped_with_its_events(
    served: tuple[EventBus, str], py_client: Connect, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus, url = served
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    monkeypatch.setitem(CHAT_MEMBERS, "42", {"bob"})  # removed from the chat while offline
    await bus.broadcast(MessageEvent(chat_id="42", text="secret"))
    await bus.emit_to_room(LobbyRoom(), NoticeEvent(text="lobby news"))
    await alice.reconnect()
    assert alice.recovered
    await alice.fence(bus)
    assert texts(alice) == ["before"]
    assert alice.received("notice") == [{"text": "lobby news"}]
    assert bus.joined_rooms(alice.sid) == ["lobby"]


async def test_another_users_token_gets_a_fresh_connection(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    await bus.broadcast(MessageEvent(chat_id="42", text="for alice's chat"))
    mallory = PyClient(url, token=token("mallory"))
    mallory.auth = {**(mallory.auth or {}), **alice.sio.recovery_auth()}
    await mallory.connect()
    try:
        assert not mallory.recovered
        await mallory.fence(bus)
        assert mallory.received("message") == []
        assert bus.joined_rooms(mallory.sid) == []
    finally:
        await mallory.close()
    await alice.reconnect()  # the session was spent on the refusal: alice starts afresh too
    assert not alice.recovered
    assert bus.delivery_counts() == {"recovery.refused": 1, "recovery.unknown": 1}


async def test_an_expired_token_is_refused_and_the_session_kept_for_a_fresh_one(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    await bus.broadcast(MessageEvent(chat_id="42", text="missed"))
    alice.auth = {"token": token("alice", ttl=-60)}
    with pytest.raises(socketio.exceptions.ConnectionError):
        await alice.reconnect()
    assert alice.received("message") == [{"chat_id": "42", "text": "before"}]
    alice.auth = {"token": token("alice")}  # the page refreshed its token within the window
    await alice.reconnect()
    assert alice.recovered
    await alice.inbox.wait_for("message", 2)
    assert texts(alice) == ["before", "missed"]


async def test_unknown_pid_is_a_fresh_connection(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    client = PyClient(url, token=token("alice"))
    client.auth = {**(client.auth or {}), "pid": "no-such-session", "offset": "nope:1"}
    await client.connect()
    try:
        assert not client.recovered
        assert bus.joined_rooms(client.sid) == []
    finally:
        await client.close()


async def test_after_the_window_nothing_is_replayed(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], recovery_window=0.3)
    url = await serve(bus.asgi_app())
    alice = await joined_and_dropped(bus, url, py_client, token("alice"))
    await bus.broadcast(MessageEvent(chat_id="42", text="missed"))
    await asyncio.sleep(0.5)  # past the window: the session is gone
    await alice.reconnect()
    assert not alice.recovered
    await alice.fence(bus)
    assert texts(alice) == ["before"]
    assert bus.joined_rooms(alice.sid) == []


async def test_recovery_off_sends_no_offset(jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom])
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    await bus.broadcast(MessageEvent(chat_id="42", text="plain"))
    assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "plain"}]
    assert alice.sio.recovery_auth() == {}


async def test_presence_sees_a_recovered_connection_as_never_having_left(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[DeskRoom], recovery_window=60)
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    assert (await alice.call("join_desk", {"desk_id": "1"}))["ok"]
    assert (await bob.call("join_desk", {"desk_id": "1"}))["ok"]
    await alice.drop()
    await alice.reconnect()
    assert alice.recovered
    await bus.emit_to_room(DeskRoom(desk_id="1"), NoticeEvent(text="still here"))
    await alice.inbox.wait_for("notice")
    await bob.fence(bus)
    assert bob.received("presence_leave") == []
    assert [m.user_id for m in await bus.presence(DeskRoom(desk_id="1"))] == ["alice", "bob"]


async def test_presence_announces_the_leave_when_the_window_passes(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[DeskRoom], recovery_window=0.2)
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    assert (await alice.call("join_desk", {"desk_id": "1"}))["ok"]
    assert (await bob.call("join_desk", {"desk_id": "1"}))["ok"]
    await alice.drop()
    [left] = await bob.inbox.wait_for("presence_leave")
    assert left["member"]["user_id"] == "alice"
    assert [m.user_id for m in await bus.presence(DeskRoom(desk_id="1"))] == ["bob"]


async def test_a_client_back_before_the_server_noticed_the_drop_is_recovered(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    # Over long-polling the server notices a vanished client only at its ping timeout (here 60 s): the new
    # connection presents the pid of a connection that still looks alive, which is ended and restored from.
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom], recovery_window=60, ping_interval=30, ping_timeout=30)
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"), transports=["polling"])
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    old_sid = alice.sid
    engine = alice.sio.eio
    engine.state = "disconnected"  # the network is gone: no more polls, no goodbye
    for task in (engine.read_loop_task, engine.write_loop_task):
        task.cancel()
    await asyncio.gather(engine.read_loop_task, engine.write_loop_task, return_exceptions=True)
    await bus.broadcast(MessageEvent(chat_id="42", text="into the void"))
    assert old_sid in bus.default_app._table
    alice.sio.connected = False
    alice.sio.namespaces = {}
    await alice.reconnect()
    assert alice.recovered
    assert old_sid not in bus.default_app._table
    await alice.inbox.wait_for("message")
    assert texts(alice) == ["into the void"]
    assert bus.joined_rooms(alice.sid) == ["chat:42"]


async def test_another_user_presenting_a_live_pid_ends_nothing(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    mallory = PyClient(url, token=token("mallory"))
    mallory.auth = {**(mallory.auth or {}), **alice.sio.recovery_auth()}
    await mallory.connect()
    try:
        assert not mallory.recovered
        assert alice.sid in bus.default_app._table
        await bus.broadcast(MessageEvent(chat_id="42", text="still alice's"))
        assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "still alice's"}]
    finally:
        await mallory.close()


async def test_a_connection_lost_during_its_replay_gets_the_rest_of_it_next_time(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    # The replayed packets are older than the new connection: its session must still resume after the last one
    # the client got, not after the whole replay.
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    await bus.broadcast(MessageEvent(chat_id="42", text="before"))
    await alice.inbox.wait_for("message", 1)
    first_sid = alice.sid
    await alice.drop()
    for n in range(5):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"missed {n}"))
        if n == 1:  # in the part of the replay she loses: replayed twice, excluded twice
            await bus.broadcast(MessageEvent(chat_id="42", text="her own"), exclude=first_sid)
    lost = lose_replay_after(alice, 2)
    await alice.reconnect()
    assert alice.recovered
    await alice.fence(bus)
    assert texts(alice) == ["before", "missed 0", "missed 1"]
    assert [data[1]["text"] for data in lost] == ["missed 2", "missed 3", "missed 4"]
    await alice.drop()
    await bus.broadcast(MessageEvent(chat_id="42", text="missed again"))
    await alice.reconnect()
    assert alice.recovered
    await bus.broadcast(MessageEvent(chat_id="42", text="after"))
    await alice.fence(bus)
    assert texts(alice) == ["before", *(f"missed {n}" for n in range(5)), "missed again", "after"]
