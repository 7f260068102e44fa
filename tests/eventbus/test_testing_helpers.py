"""``eventbus.testing``: what application tests are written with."""

from __future__ import annotations

import pytest

from eventbus import EventBus, JWTAuth, broadcast
from eventbus.testing import SocketTestClient, capture_broadcasts, serve
from tests.sample import AnnouncementEvent, ChatRoom, LobbyRoom, MessageEvent, NoticeEvent


async def test_capture_without_any_bus_records_events_and_resolved_rooms() -> None:
    with capture_broadcasts() as sent:
        await broadcast(AnnouncementEvent(chats=["1", "2", "1"], text="hi"))

    [message] = sent
    assert message.name == "announcement"
    assert message.rooms == ["chat:1", "chat:2", "lobby"]
    assert message.event == AnnouncementEvent(chats=["1", "2", "1"], text="hi")
    assert message.data == {"chats": ["1", "2", "1"], "text": "hi"}
    with pytest.raises(RuntimeError):
        await broadcast(NoticeEvent(text="no bus outside the block"))


async def test_capture_records_every_sending_method_of_a_bus(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth)
    with capture_broadcasts() as sent:
        await bus.emit_to_user(7, NoticeEvent(text="u"))
        await bus.emit_to_room("ops:1", "legacy", {"a": 1}, exclude="sid-1")
        await bus.emit_to_all(NoticeEvent(text="all"))
    assert [(s.name, s.rooms, s.exclude) for s in sent] == [
        ("notice", ["user:7"], None),
        ("legacy", ["ops:1"], ["sid-1"]),
        ("notice", None, None),
    ]
    assert sent[1].event is None


async def test_capture_can_also_deliver(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom])
    async with serve(bus.asgi_app()) as url:
        client = await SocketTestClient(url, token=jwt_auth.issue("alice")).connect()
        try:
            await client.call("join_chat", {"chat_id": "42"})
            with capture_broadcasts(deliver=True) as sent:
                await bus.broadcast(MessageEvent(chat_id="42", text="both"))
            assert [s.rooms for s in sent] == [["chat:42", "business_monitoring:1"]]
            assert await client.inbox.wait_for("message") == [{"chat_id": "42", "text": "both"}]
        finally:
            await client.close()
