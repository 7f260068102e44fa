"""A Redis-backed bus and emitters in one process, against a real redis-server: configuration, faults, ACL, TLS."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus import (
    ConfigurationError,
    Emitter,
    EventBus,
    JWTAuth,
    PublishError,
    RedisUnavailableError,
    SyncEmitter,
    broadcast,
    get_default,
)
from eventbus.testing import capture_broadcasts
from eventbus.transport.redis_manager import RedisManager
from tests.clients import PyClient
from tests.redis_server import RedisServer
from tests.sample import AnnouncementEvent, ChatRoom, LobbyRoom, MessageEvent, NoticeEvent
from tests.servers import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]
KEY = "in-process-signing-key-0123456789"

# The ACL of the Redis deployment guide, read from it so the docs stay true: this user may only ping, publish and
# subscribe on its channel.
_GUIDE = (pathlib.Path(__file__).parents[2] / "docs" / "guides" / "redis.md").read_text()
[_ACL] = [line.strip() for line in _GUIDE.splitlines() if line.strip().startswith("ACL SETUSER eventbus")]
ACL_RULES = _ACL.split()[3:]


@pytest.fixture
def served_bus(
    jwt_auth: JWTAuth, serve: Serve, stack: AsyncExitStack
) -> Callable[..., Awaitable[tuple[EventBus, str]]]:
    """``bus, url = await served_bus(redis_url, **options)``: a Redis bus under uvicorn (its lifespan starts it)."""

    async def start(redis_url: str, **options: Any) -> tuple[EventBus, str]:
        bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], redis_url=redis_url, **options)
        return bus, await serve(bus.asgi_app())

    return start


def emitter(stack: AsyncExitStack, *args: Any, **kwargs: Any) -> Emitter:
    created = Emitter(*args, **kwargs)
    stack.push_async_callback(created.close)
    return created


async def test_module_broadcast_goes_through_an_emitter_default(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    worker = emitter(stack, redis_server.url, channel="app")  # created first: the default
    bus, url = await served_bus(redis_server.url, redis_channel="app")
    assert get_default() is worker
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]

    await broadcast(MessageEvent(chat_id="42", text="from a worker"))
    await worker.emit_to_user("alice", NoticeEvent(text="to alice"))

    assert await alice.inbox.wait_for("message") == [{"chat_id": "42", "text": "from a worker"}]
    assert await alice.inbox.wait_for("notice") == [{"text": "to alice"}]
    assert "redis=True" in repr(bus)


async def test_channel_separates_applications_sharing_one_redis(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    bus, url = await served_bus(redis_server.url, redis_channel="app-one")
    alice = await py_client(url, token=token("alice"))

    await emitter(stack, redis_server.url, channel="app-two").emit_to_user("alice", NoticeEvent(text="other app"))
    await emitter(stack, redis_server.url, channel="app-one").emit_to_user("alice", NoticeEvent(text="this app"))

    assert await alice.inbox.wait_for("notice") == [{"text": "this app"}]
    await alice.fence(bus)
    assert alice.received("notice") == [{"text": "this app"}]


async def test_broadcasts_raise_while_redis_is_down_and_work_again_after(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    bus, url = await served_bus(redis_server.url)
    alice = await py_client(url, token=token("alice"))
    worker = emitter(stack, redis_server.url)
    blocking = SyncEmitter(redis_server.url)
    stack.callback(blocking.close)

    redis_server.stop()
    for send in (
        lambda: bus.emit_to_user("alice", NoticeEvent(text="lost 1")),
        lambda: worker.emit_to_user("alice", NoticeEvent(text="lost 2")),
        lambda: asyncio.to_thread(blocking.emit_to_user, "alice", NoticeEvent(text="lost 3")),
    ):
        with pytest.raises(PublishError, match=r"could not publish 'emit' to Redis at redis://127\.0\.0\.1:\d+/0"):
            await send()
    redis_server.start()
    assert isinstance(bus.sio.manager, RedisManager)
    await asyncio.wait_for(bus.sio.manager.subscribed.wait(), 15)

    await bus.emit_to_user("alice", NoticeEvent(text="back 1"))
    await worker.emit_to_user("alice", NoticeEvent(text="back 2"))
    await asyncio.to_thread(blocking.emit_to_user, "alice", NoticeEvent(text="back 3"))
    await alice.inbox.wait_for("notice", 3)
    await alice.fence(bus)
    # Nothing of the failed sends arrived, not even at the bus's own local socket.
    assert sorted(n["text"] for n in alice.received("notice")) == ["back 1", "back 2", "back 3"]


async def test_unreachable_redis_at_start_names_the_url_without_password() -> None:
    url = f"redis://events:hunter2@127.0.0.1:{free_port()}/0"
    shown = url.replace("hunter2", "***")
    bus = EventBus(allow_anonymous=True, redis_url=url)
    for start in (bus.start, Emitter(url).start, lambda: asyncio.to_thread(SyncEmitter(url).start)):
        with pytest.raises(RedisUnavailableError, match="cannot reach Redis at") as caught:
            await start()
        assert shown in str(caught.value)
        assert "hunter2" not in str(caught.value)


def test_redis_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="must start with one of redis://"):
        EventBus(allow_anonymous=True, redis_url="http://localhost:6379")
    with pytest.raises(ConfigurationError, match=r"Emitter needs a Redis URL.*EVENTBUS_REDIS_URL"):
        Emitter()
    with pytest.raises(ConfigurationError, match="SyncEmitter needs a Redis URL"):
        SyncEmitter()
    monkeypatch.setenv("EVENTBUS_REDIS_URL", "rediss://u:p@redis.example.com:6380/0")
    monkeypatch.setenv("EVENTBUS_REDIS_CHANNEL", "billing")
    monkeypatch.setenv("EVENTBUS_REDIS_SIGNING_KEY", KEY)
    for from_env in (Emitter(), SyncEmitter()):
        assert from_env.manager.channel == "billing"
        assert from_env.manager.signer is not None
        assert repr(from_env).endswith("('rediss://u:***@redis.example.com:6380/0', channel='billing')")
    bus = EventBus(allow_anonymous=True)
    assert isinstance(bus.sio.manager, RedisManager)
    assert bus.sio.manager.channel == "billing"


async def test_acl_user_limited_to_its_channel(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    redis_server.client().execute_command("ACL", "SETUSER", "eventbus", *ACL_RULES)
    url = f"redis://eventbus:s3cret-pass@127.0.0.1:{redis_server.port}/0"
    _, served = await served_bus(url, redis_channel="app-events")
    alice = await py_client(served, token=token("alice"))
    blocking = SyncEmitter(url, channel="app-events")
    stack.callback(blocking.close)

    await emitter(stack, url, channel="app-events").emit_to_user("alice", NoticeEvent(text="async"))
    await asyncio.to_thread(blocking.emit_to_user, "alice", NoticeEvent(text="sync"))
    assert len(await alice.inbox.wait_for("notice", 2)) == 2

    # Redis 7: "this user has no permissions to access one of the channels"; 8: "No permissions to access a channel".
    with pytest.raises(PublishError, match=r"(?i)no permissions"):
        await emitter(stack, url, channel="other").emit_to_all(NoticeEvent(text="elsewhere"))
    with pytest.raises(RedisUnavailableError, match="invalid username-password"):
        await emitter(stack, url.replace("s3cret", "wrong"), channel="app-events").start()


async def test_tls(
    start_redis: Callable[..., RedisServer], served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    server = start_redis(tls=True)
    assert server.url.startswith("rediss://")
    _, url = await served_bus(server.url, redis_signing_key=KEY)
    alice = await py_client(url, token=token("alice"))

    await emitter(stack, server.url, signing_key=KEY).emit_to_user("alice", NoticeEvent(text="over TLS"))

    assert await alice.inbox.wait_for("notice") == [{"text": "over TLS"}]
    with pytest.raises(RedisUnavailableError):  # the same port without TLS does not answer
        await emitter(stack, f"redis://127.0.0.1:{server.port}/0").start()


@pytest.mark.parametrize(("server_key", "emitter_key"), [(KEY, None), (None, KEY), (KEY, KEY + "-other")])
async def test_mismatched_signing_keys_drop_and_say_why(
    server_key: str | None,
    emitter_key: str | None,
    redis_server: RedisServer,
    served_bus: Any,
    py_client: Connect,
    token: Token,
    stack: AsyncExitStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, url = await served_bus(redis_server.url, redis_signing_key=server_key)
    alice = await py_client(url, token=token("alice"))
    caplog.set_level(logging.WARNING, logger="eventbus")

    await emitter(stack, redis_server.url, signing_key=emitter_key).emit_to_user("alice", NoticeEvent(text="x"))
    await emitter(stack, redis_server.url, signing_key=server_key).emit_to_user("alice", NoticeEvent(text="ok"))

    assert await alice.inbox.wait_for("notice") == [{"text": "ok"}]
    expected = {
        (KEY, None): "dropped an unsigned 'emit' message from Redis channel 'eventbus': message is not signed",
        (None, KEY): "dropped a signed message from Redis channel 'eventbus': this process has no signing key",
        (KEY, KEY + "-other"): "dropped a message from Redis channel 'eventbus': signature does not match",
    }[(server_key, emitter_key)]
    assert expected in caplog.text
    assert KEY not in caplog.text


async def test_sync_emitter_resolves_async_broadcast_to_outside_a_loop(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    _, url = await served_bus(redis_server.url)
    alice = await py_client(url, token=token("alice"))
    assert (await alice.call("join_lobby"))["ok"]
    blocking = SyncEmitter(redis_server.url)
    stack.callback(blocking.close)
    event = AnnouncementEvent(chats=["7"], text="maintenance")  # async broadcast_to

    with pytest.raises(TypeError, match="use the async Emitter"):
        blocking.broadcast(event)
    await asyncio.to_thread(blocking.broadcast, event)

    assert await alice.inbox.wait_for("announcement") == [{"chats": ["7"], "text": "maintenance"}]


async def test_emitter_moves_and_disconnects_sockets_it_does_not_hold(
    redis_server: RedisServer, served_bus: Any, py_client: Connect, token: Token, stack: AsyncExitStack
) -> None:
    bus, url = await served_bus(redis_server.url)
    alice = await py_client(url, token=token("alice"))
    tabs = [await py_client(url, token=token("dana")) for _ in range(2)]
    worker = emitter(stack, redis_server.url)
    sid = alice.sio.get_sid()
    assert sid is not None

    await worker.join_room(sid, ChatRoom(chat_id="7"))
    # With sharded channels the move is on the control channel and the emit on the room's partition: the emit is
    # ordered after the move once the holding process has subscribed to the partition.
    manager = bus.sio.manager

    def subscribed() -> bool:
        return manager.subscriptions is None or manager.partitions.of("chat:7") in manager.subscriptions.active

    await wait_until(lambda: "chat:7" in bus.sio.rooms(sid) and subscribed(), "alice to be moved into chat:7")
    await worker.emit_to_room(ChatRoom(chat_id="7"), NoticeEvent(text="in"))
    await worker.leave_room(sid, "chat:7")
    await worker.emit_to_room("chat:7", NoticeEvent(text="out"))
    await alice.inbox.wait_for("notice")
    await alice.fence(bus)
    assert alice.received("notice") == [{"text": "in"}]

    await worker.disconnect_user("dana")
    await worker.disconnect(sid)
    await wait_until(lambda: not any(c.sio.connected for c in [alice, *tabs]), "the sockets to be disconnected")


async def test_disconnect_user_in_memory(jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token) -> None:
    bus = EventBus(auth=jwt_auth)
    url = await serve(bus.asgi_app())
    tabs = [await py_client(url, token=token("dana")) for _ in range(2)]
    other = await py_client(url, token=token("erin"))

    await bus.disconnect_user("dana")

    await wait_until(lambda: not any(tab.sio.connected for tab in tabs), "dana's tabs to be disconnected")
    assert other.sio.connected


async def test_bus_as_async_context_manager_listens_and_stops(redis_server: RedisServer) -> None:
    bus = EventBus(allow_anonymous=True, redis_url=redis_server.url, redis_channel="ctx")
    manager = bus.sio.manager
    assert isinstance(manager, RedisManager)
    for _ in range(2):  # stop, then start again
        async with bus:
            assert manager.subscribed.is_set()
            assert await redis_server_subscribers(redis_server, "ctx") == 1
        assert manager.thread is None
        assert await redis_server_subscribers(redis_server, "ctx") == 0


async def redis_server_subscribers(server: RedisServer, channel: str) -> int:
    [(_, count)] = await asyncio.to_thread(server.client().pubsub_numsub, channel)
    return int(count)


async def test_capture_broadcasts_records_both_emitters_without_redis() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: a real send would raise PublishError
    with capture_broadcasts() as sent:
        await Emitter(url).emit_to_user("alice", NoticeEvent(text="async"))
        SyncEmitter(url).broadcast(MessageEvent(chat_id="42", text="sync"))
    assert [(s.name, s.rooms, s.data) for s in sent] == [
        ("notice", ["user:alice"], {"text": "async"}),
        ("message", ["chat:42", "business_monitoring:1"], {"chat_id": "42", "text": "sync"}),
    ]


async def test_the_listener_retries_promptly_through_a_short_outage_then_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every LISTEN_RETRY_MIN for the first LISTEN_RETRY_FAST_FOR seconds of an outage, then doubling (fake clock)."""
    from eventbus.transport import redis_manager as module

    clock = [1000.0]
    delays: list[float] = []
    failures = 80  # enough to pass LISTEN_RETRY_FAST_FOR on the fake clock

    class PubSub:
        async def subscribe(self, channel: str) -> None:
            nonlocal failures
            if failures:
                failures -= 1
                raise ConnectionError("Redis is restarting")

        async def listen(self) -> Any:
            yield {"type": "subscribe", "channel": b"eventbus", "data": 1}
            await asyncio.Event().wait()

        async def aclose(self) -> None:
            pass

    class Client:
        def pubsub(self) -> PubSub:
            return PubSub()

        async def aclose(self) -> None:
            pass

    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        clock[0] += delay
        await real_sleep(0)

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return clock[0]

    class Asyncio:
        sleep = staticmethod(fake_sleep)

        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

    # The module's own names only: the event loop keeps the real clock.
    monkeypatch.setattr(module, "time", Clock)
    monkeypatch.setattr(module, "asyncio", Asyncio())
    manager = RedisManager("redis://localhost:6379/0", channel="eventbus")
    monkeypatch.setattr(manager, "_new_client", lambda *args: Client())
    listening = asyncio.ensure_future(anext(manager._subscription()))
    await asyncio.wait_for(manager.subscribed.wait(), 5)
    listening.cancel()
    fast = int(module.LISTEN_RETRY_FAST_FOR / module.LISTEN_RETRY_MIN)
    assert delays[:fast] == [module.LISTEN_RETRY_MIN] * fast
    assert delays[fast:] == sorted(delays[fast:])
    assert max(delays) == module.LISTEN_RETRY_MAX
