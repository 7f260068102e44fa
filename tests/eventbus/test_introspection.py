"""Who is connected, over the wire: counts, connection info, is_online, emit_to_sid, disconnect and disconnect_user."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from eventbus import Application, EventBus, EventBusSettings, JWTAuth, User
from eventbus.testing import SocketTestClient
from tests import waiting
from tests.clients import JSClient, PyClient
from tests.eventbus.apps_sample import ADMIN, STATUS, AdminNoticeEvent, OpsRoom, StatusFeedRoom
from tests.sample import ChatRoom, LobbyRoom, NoticeEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]


# The shared poller, with this module's tighter bound.
wait_until = partial(waiting.wait_until, timeout=5)


def counts(bus: EventBus) -> dict[str, int]:
    return {path: bus.connection_count(path) for path in bus.apps} | {"total": bus.connection_count()}


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, Application, str]:
    # Short pings, so a long-polling client that vanished is noticed within about a second.
    bus = EventBus(
        auth=jwt_auth,
        rooms=[ChatRoom, LobbyRoom],
        settings=EventBusSettings(ping_interval=0.3, ping_timeout=0.5),
    )
    admin = bus.app(ADMIN, rooms=[OpsRoom])
    bus.app(STATUS, allow_anonymous=True, rooms=[StatusFeedRoom])
    return bus, admin, await serve(bus.asgi_app())


@pytest.mark.node
async def test_figures_follow_connects_joins_leaves_and_kills(
    served: tuple[EventBus, Application, str], py_client: Connect, js_client: StartJS, token: Token
) -> None:
    bus, admin, url = served
    before = datetime.now(UTC)
    assert counts(bus) == {"/": 0, ADMIN: 0, STATUS: 0, "total": 0}
    alice_ws = await py_client(url, token=token("alice"))
    alice_poll = await py_client(url, token=token("alice"), transports=["polling"])
    alice_admin = await js_client(url, token=token("alice"), namespace=ADMIN)
    bob_page = await js_client(url, token=token("bob"))
    reader = await py_client(url, namespace=STATUS)
    await wait_until(lambda: bus.connection_count() == 5, "five connections")
    assert counts(bus) == {"/": 3, ADMIN: 1, STATUS: 1, "total": 5}
    assert (bus.is_online("alice"), bus.is_online("bob"), bus.is_online("carol")) == (True, True, False)
    assert admin.is_online("alice")
    assert not admin.is_online("bob")

    await alice_ws.call("join_chat", {"chat_id": "42"})
    await alice_poll.call("join_lobby")
    await alice_admin.call("join_ops")
    await alice_poll.call("join_chat", {"chat_id": "42"})
    await alice_poll.call("leave_lobby")
    infos = bus.connections("alice")
    assert [(c.app, c.sid, c.user_id, c.transport, c.rooms) for c in infos] == [
        ("/", alice_ws.sid, "alice", "websocket", ["chat:42", "user:alice"]),
        ("/", alice_poll.sid, "alice", "polling", ["chat:42", "user:alice"]),
        (ADMIN, alice_admin.lifecycle()[0]["id"], "alice", "websocket", ["ops", "user:alice"]),
    ]
    assert all(before <= c.connected_at <= datetime.now(UTC) for c in infos)
    assert [c.app for c in admin.connections("alice")] == [ADMIN]
    [anonymous] = bus.connections(None)[-1:]
    assert (anonymous.app, anonymous.user_id, anonymous.rooms) == (STATUS, None, [])

    await alice_ws.close()  # a clean disconnect
    await bob_page.kill()  # a browser that vanished: the websocket just closes
    await alice_poll.drop()  # a long-polling client that vanished: only its missed pings tell
    await wait_until(lambda: counts(bus) == {"/": 0, ADMIN: 1, STATUS: 1, "total": 2}, "the three to be gone")
    assert not bus.is_online("bob")
    assert [c.app for c in bus.connections("alice")] == [ADMIN]
    await alice_admin.kill()
    await reader.close()
    await wait_until(lambda: bus.connection_count() == 0, "everyone to be gone")
    assert bus.connections() == []
    assert not bus.is_online("alice")


async def test_disconnect_user_closes_every_tab_of_that_user_only(
    served: tuple[EventBus, Application, str], py_client: Connect, token: Token
) -> None:
    bus, _admin, url = served
    tabs = [await py_client(url, token=token("mallory")) for _ in range(2)]
    tabs.append(await py_client(url, token=token("mallory"), transports=["polling"]))
    console = await py_client(url, token=token("mallory"), namespace=ADMIN)
    bob = await py_client(url, token=token("bob"))
    bob_admin = await py_client(url, token=token("bob"), namespace=ADMIN)
    await wait_until(lambda: bus.connection_count() == 6, "six connections")

    await bus.disconnect_user("mallory", reason="banned")

    for client in (*tabs, console):
        assert await client.inbox.wait_for("session_ended") == [{"reason": "banned"}]
        await wait_until(lambda c=client: not c.sio.connected, "mallory's tab to be closed")  # type: ignore[misc]
    assert not bus.is_online("mallory")
    assert counts(bus) == {"/": 1, ADMIN: 1, STATUS: 0, "total": 2}
    await bus.emit_to_user("bob", NoticeEvent(text="still here"))
    assert await bob.inbox.wait_for("notice") == [{"text": "still here"}]
    assert bob.received("session_ended") == []
    assert bob.sio.connected
    assert bob_admin.sio.connected


async def test_an_applications_disconnect_user_stays_in_that_application(
    served: tuple[EventBus, Application, str], py_client: Connect, token: Token
) -> None:
    bus, admin, url = served
    main_tab = await py_client(url, token=token("ann"))
    console = await py_client(url, token=token("ann"), namespace=ADMIN)

    await admin.disconnect_user("ann")  # no reason: no session_ended, just the disconnect

    await wait_until(lambda: not console.sio.connected, "the console to be closed")
    assert console.received("session_ended") == []
    assert main_tab.sio.connected
    assert [c.app for c in bus.connections("ann")] == ["/"]
    await bus.disconnect_user("nobody-connected", reason="silent")  # nobody: nothing happens


async def test_emit_to_sid_and_disconnect_one_connection(
    served: tuple[EventBus, Application, str], py_client: Connect, token: Token
) -> None:
    bus, admin, url = served
    first = await py_client(url, token=token("alice"))
    second = await py_client(url, token=token("alice"))
    console = await py_client(url, token=token("alice"), namespace=ADMIN)

    await bus.emit_to_sid(first.sid, NoticeEvent(text="only you"))
    await bus.emit_to_sid(console.sid, AdminNoticeEvent(text="found its application"))
    await admin.emit_to_sid(console.sid, "raw", {"n": 1})
    assert await first.inbox.wait_for("notice") == [{"text": "only you"}]
    assert await console.inbox.wait_for("raw") == [{"n": 1}]
    assert console.received("notice") == [{"text": "found its application"}]
    assert await bus.get_user(console.sid) == User(id="alice")

    await bus.disconnect(first.sid, reason="logout")
    await admin.disconnect(console.sid)

    assert await first.inbox.wait_for("session_ended") == [{"reason": "logout"}]
    await wait_until(lambda: not first.sio.connected and not console.sio.connected, "two disconnects")
    await second.fence(bus)
    assert second.received("notice") == []
    assert second.sio.connected
    assert [c.sid for c in bus.connections("alice")] == [second.sid]


async def test_a_client_lost_while_authenticating_leaves_no_trace(serve: Serve) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_auth(auth: Any, environ: Any) -> User | None:
        entered.set()
        await release.wait()
        return User(id="slow")

    bus = EventBus(auth=slow_auth)
    url = await serve(bus.asgi_app())
    client = SocketTestClient(url, token="any")
    connecting = asyncio.create_task(client.connect())
    await entered.wait()
    await client.sio.eio.drop()
    connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)
    release.set()

    await wait_until(lambda: not bus.sio.manager.rooms, "python-socketio to forget the connection")
    assert bus.connection_count() == 0
    assert not bus.is_online("slow")


async def test_token_timers_end_with_their_connection_and_at_shutdown(
    served: tuple[EventBus, Application, str], py_client: Connect, token: Token
) -> None:
    bus, admin, url = served
    first = await py_client(url, token=token("alice"))
    await py_client(url, token=token("alice"), namespace=ADMIN)
    await py_client(url, namespace=STATUS)  # anonymous: no token, no timer
    assert (len(bus.default_app._expiry), len(admin._expiry), len(bus.apps[STATUS]._expiry)) == (1, 1, 0)

    await first.close()
    await wait_until(lambda: len(bus.default_app._expiry) == 0, "the closed connection's timer to go")
    await bus.stop()  # what the ASGI lifespan calls at shutdown
    assert len(admin._expiry) == 0
