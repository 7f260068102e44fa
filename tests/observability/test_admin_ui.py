"""The Socket.IO Admin UI (python-socketio's ``instrument()``), driven by the real socket.io-client from npm."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus import AdminUI, AppSettings, ConfigurationError, EventBus, JWTAuth
from eventbus.observability.admin_ui import hash_password
from eventbus.testing import SocketTestClient
from tests.clients import JSClient
from tests.sample import ChatRoom
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]
NAMESPACE = "/socketio-admin"
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)


def admin_bus(jwt_auth: JWTAuth, *, read_only: bool = True) -> EventBus:
    ui = AdminUI(username="ops", password_hash=HASH, read_only=read_only, server_stats_interval=0.1)
    return EventBus(auth=jwt_auth, rooms=[ChatRoom], admin_ui=ui)


async def admin_client(stack: AsyncExitStack, url: str, password: str = PASSWORD) -> tuple[JSClient, dict[str, Any]]:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: install Node.js 20 (make test installs the npm packages)")
    client = JSClient(url, namespace=NAMESPACE)
    client.options["auth"] = {"username": "ops", "password": password}  # what the Admin UI's login form sends
    stack.push_async_callback(client.close)
    return client, await client.start()


@pytest.mark.node
async def test_the_admin_namespace_lists_our_connections_and_refuses_commands_when_read_only(
    jwt_auth: JWTAuth, token: Token, serve: Serve, stack: AsyncExitStack
) -> None:
    bus = admin_bus(jwt_auth)
    url = await serve(bus.asgi_app())
    alice = await SocketTestClient(url, token=token("alice")).connect()
    stack.push_async_callback(alice.close)
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]

    admin, first = await admin_client(stack, url)
    assert first["type"] == "connect"
    [config] = await admin.inbox.wait_for("config")
    assert "EMIT" not in config["supportedFeatures"]
    assert "DISCONNECT" not in config["supportedFeatures"]
    [sockets] = await admin.inbox.wait_for("all_sockets")
    [shown] = [s for s in sockets if s["nsp"] == "/"]
    assert shown["id"] == alice.sid
    assert shown["data"] == {"user_id": "alice", "app": "/"}
    assert "chat:42" in shown["rooms"]
    stats = (await admin.inbox.wait_for("server_stats"))[0]
    assert {"name": "/", "socketsCount": 1} in stats["namespaces"]

    # The UI's commands: disconnect alice, send her an event. Read-only: no handler, nothing happens.
    await admin.emit("_disconnect", "/", False, alice.sid)
    await admin.emit("emit", "/", alice.sid, "notice", {"text": "from the admin"})
    # python-socketio reports every received event to the admin namespace before handling it: a fence.
    received = await admin.inbox.wait_for("event_received", 2)
    assert [r[2][0] for r in received if r[0] == NAMESPACE] == ["_disconnect", "emit"]
    assert (await alice.call("join_chat", {"chat_id": "42"}))["ok"]
    # The bus's own events are reported too: with the Admin UI on they take python-socketio's dispatch (the
    # inbound fast path steps aside), which tells the UI about each.
    await wait_until(
        lambda: any(r[0] == "/" and r[2][0] == "join_chat" for r in admin.received("event_received")),
        "alice's join_chat shown in the Admin UI",
        5,
    )
    assert alice.sio.connected
    assert bus.connection_count() == 1
    assert alice.received("notice") == []


@pytest.mark.node
async def test_a_wrong_password_is_refused_and_a_writable_ui_can_disconnect(
    jwt_auth: JWTAuth, token: Token, serve: Serve, stack: AsyncExitStack
) -> None:
    bus = admin_bus(jwt_auth, read_only=False)
    url = await serve(bus.asgi_app())
    _, refused = await admin_client(stack, url, password="guess")
    assert refused == {"type": "connect_error", "message": "authentication failed", "data": None}

    alice = await SocketTestClient(url, token=token("alice")).connect()
    stack.push_async_callback(alice.close)
    admin, first = await admin_client(stack, url)
    assert first["type"] == "connect"
    await admin.emit("_disconnect", "/", False, alice.sid)
    await wait_until(lambda: bus.connection_count() == 0, "the admin's disconnect to take effect")


def test_the_admin_namespace_cannot_be_an_applications(jwt_auth: JWTAuth) -> None:
    ui = AdminUI(username="ops", password_hash=HASH, namespace="/ops")
    with pytest.raises(ConfigurationError, match="Admin UI"):
        EventBus(auth=jwt_auth, admin_ui=ui, apps=[AppSettings(path="/ops", allow_anonymous=True)])
    bus = EventBus(auth=jwt_auth, admin_ui=ui)
    with pytest.raises(ConfigurationError, match="Admin UI's namespace"):
        bus.app("/ops", allow_anonymous=True)
    with pytest.raises(ConfigurationError, match="application's path"):
        EventBus(auth=jwt_auth, admin_ui=AdminUI(username="ops", password_hash=HASH, namespace="/"))


def test_outside_development_the_admin_ui_needs_a_password(jwt_auth: JWTAuth) -> None:
    with pytest.raises(ConfigurationError, match="admin-password"):
        EventBus(auth=jwt_auth, admin_ui=AdminUI(mode="production"))
    with pytest.raises(ConfigurationError, match="password_hash must come from"):
        EventBus(auth=jwt_auth, admin_ui=AdminUI(username="ops", password_hash="plain-text"))


async def test_one_admin_ui_per_process_and_none_left_after_stop(jwt_auth: JWTAuth) -> None:
    from engineio.async_socket import AsyncSocket

    original = AsyncSocket.handle_post_request
    first, second = admin_bus(jwt_auth), admin_bus(jwt_auth)
    async with first:
        assert AsyncSocket.handle_post_request is not original
        with pytest.raises(ConfigurationError, match="one Admin UI"):
            await second.start()
        await second.stop()
    assert AsyncSocket.handle_post_request is original
    async with second:  # the first one is gone: the second may run
        pass
    assert AsyncSocket.handle_post_request is original
