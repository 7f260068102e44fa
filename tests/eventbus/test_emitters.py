"""One contract for both write-only emitters, async and blocking, over a real redis-server: they cannot drift."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus import (
    ConfigurationError,
    Emitter,
    Event,
    EventBus,
    EventBusSettings,
    JWTAuth,
    Room,
    SyncEmitter,
    Target,
    WrongApplicationError,
)
from eventbus.testing import capture_broadcasts
from tests.clients import PyClient
from tests.eventbus.apps_sample import ADMIN, AdminChatRoom, AdminMessageEvent, AdminNoticeEvent
from tests.redis_server import RedisServer
from tests.sample import ChatRoom, MessageEvent, NoticeEvent
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
ADMIN_SECRET = "emitter-contract-admin-secret-0123456789abcdef"


async def call(sender: Emitter | SyncEmitter, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on either emitter: awaited on the async one, in a thread on the blocking one."""
    bound = getattr(sender, method)
    if inspect.iscoroutinefunction(bound):
        return await bound(*args, **kwargs)
    return await asyncio.to_thread(bound, *args, **kwargs)


@pytest.fixture(params=["Emitter", "SyncEmitter"])
def make_emitter(request: pytest.FixtureRequest, stack: AsyncExitStack) -> Callable[[str], Emitter | SyncEmitter]:
    def make(url: str) -> Emitter | SyncEmitter:
        if request.param == "Emitter":
            created: Emitter | SyncEmitter = Emitter(url)
            stack.push_async_callback(created.close)
        else:
            created = SyncEmitter(url)
            stack.callback(created.close)
        return created

    return make


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve, redis_server: RedisServer) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom], redis_url=redis_server.url)
    bus.app(ADMIN, auth=JWTAuth(secret=ADMIN_SECRET), rooms=[AdminChatRoom])
    return bus, await serve(bus.asgi_app())


async def test_an_event_of_another_application_is_refused_not_sent_to_the_default_one(
    make_emitter: Callable[[str], Emitter | SyncEmitter], redis_server: RedisServer
) -> None:
    emitter = make_emitter(redis_server.url)
    with capture_broadcasts(deliver=False) as sent:
        with pytest.raises(WrongApplicationError, match="AdminMessageEvent belongs to application '/admin'"):
            await call(emitter, "broadcast", AdminMessageEvent(chat_id="1", text="x"))
        with pytest.raises(WrongApplicationError, match="AdminChatRoom belongs to application '/admin'"):
            await call(emitter, "emit_to_room", AdminChatRoom(chat_id="1"), NoticeEvent(text="x"))
    assert sent == []


async def test_for_app_delivers_to_that_applications_clients_only(
    make_emitter: Callable[[str], Emitter | SyncEmitter],
    redis_server: RedisServer,
    served: tuple[EventBus, str],
    py_client: Connect,
    token: Token,
) -> None:
    bus, url = served
    admin_token = JWTAuth(secret=ADMIN_SECRET).issue("ann", role="admin")
    ann = await py_client(url, token=admin_token, namespace=ADMIN)
    alice = await py_client(url, token=token("alice"))
    assert (await ann.call("join_chat", {"chat_id": "42"}))["ok"]
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    admin = make_emitter(redis_server.url).for_app(ADMIN)

    await call(admin, "broadcast", AdminMessageEvent(chat_id="42", text="to admins"))
    await call(admin, "emit_to_user", "ann", AdminNoticeEvent(text="hi ann"))

    assert await ann.inbox.wait_for("message") == [{"chat_id": "42", "text": "to admins"}]
    assert await ann.inbox.wait_for("notice") == [{"text": "hi ann"}]
    await alice.fence(bus)
    assert alice.received("message") == []


async def test_disconnect_user_with_a_reason_says_why_first(
    make_emitter: Callable[[str], Emitter | SyncEmitter],
    redis_server: RedisServer,
    served: tuple[EventBus, str],
    py_client: Connect,
    token: Token,
) -> None:
    _, url = served
    mallory = await py_client(url, token=token("mallory"))
    await call(make_emitter(redis_server.url), "disconnect_user", "mallory", reason="banned")
    await wait_until(lambda: not mallory.sio.connected, "mallory to be disconnected")
    assert mallory.received("session_ended") == [{"reason": "banned"}]


class ChatFileEvent(Event):
    chat_id: str
    data: bytes

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id)]


async def test_a_typed_event_with_bytes_crosses_redis_as_attachments(
    make_emitter: Callable[[str], Emitter | SyncEmitter],
    redis_server: RedisServer,
    served: tuple[EventBus, str],
    py_client: Connect,
    token: Token,
) -> None:
    _, url = served
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]

    await call(make_emitter(redis_server.url), "broadcast", ChatFileEvent(chat_id="42", data=b"\x00\xff\x80"))

    assert await alice.inbox.wait_for("chat_file") == [{"chat_id": "42", "data": b"\x00\xff\x80"}]


async def test_both_record_the_same_message_in_capture(
    make_emitter: Callable[[str], Emitter | SyncEmitter], redis_server: RedisServer
) -> None:
    emitter = make_emitter(redis_server.url)
    with capture_broadcasts(deliver=False) as sent:
        await call(emitter, "broadcast", MessageEvent(chat_id="42", text="hi"), exclude="sid-1")
        await call(emitter.for_app(ADMIN), "emit_to_all", AdminNoticeEvent(text="all"))
    assert [(s.name, s.data, s.rooms, s.exclude, s.app) for s in sent] == [
        ("message", {"chat_id": "42", "text": "hi"}, ["chat:42", "business_monitoring:1"], ["sid-1"], "/"),
        ("notice", {"text": "all"}, None, None, ADMIN),
    ]


class LoggedRoom(Room, prefix="sync_logged", history=10):
    room_id: str


def test_the_blocking_emitter_refuses_what_it_cannot_log_for_recovery(redis_server: RedisServer) -> None:
    recovering = SyncEmitter(redis_server.url, settings=EventBusSettings(recovery_window=60))
    with pytest.raises(ConfigurationError, match="SyncEmitter cannot send events with EVENTBUS_RECOVERY_WINDOW set"):
        recovering.emit_to_user("alice", NoticeEvent(text="would be missing after a reconnect"))
    recovering.close()
    emitter = SyncEmitter(redis_server.url)
    with (
        capture_broadcasts(deliver=False) as sent,
        pytest.raises(ConfigurationError, match=r"to history rooms \(sync_logged:1\)"),
    ):
        emitter.emit_to_room(LoggedRoom(room_id="1"), NoticeEvent(text="would be missing from the history"))
    assert sent == []
    emitter.close()
