"""Applications as Socket.IO namespaces, over the wire: isolation, per-application auth, declarative config."""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import socketio

import eventbus
from eventbus import (
    Application,
    ConfigurationError,
    EventBus,
    EventBusSettings,
    JWTAuth,
    WrongApplicationError,
    broadcast,
)
from eventbus.testing import capture_broadcasts
from tests.clients import JSClient, PyClient, connect_error
from tests.conftest import SECRET
from tests.eventbus.apps_sample import (
    ADMIN,
    STATUS,
    AdminChatRoom,
    AdminMessageEvent,
    AdminNoticeEvent,
    Escalate,
    EverywhereEvent,
    OpsRoom,
    StatusEvent,
    StatusFeedRoom,
)
from tests.sample import ChatRoom, LobbyRoom, MessageEvent, NoticeEvent, SendMessage

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]

ADMIN_SECRET = "admin-console-secret-0123456789abcdef0123456789abcdef0123456789"


def three_apps(jwt_auth: JWTAuth) -> tuple[EventBus, Application, Application]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom])
    admin = bus.app(ADMIN, auth=JWTAuth(secret=ADMIN_SECRET), rooms=[AdminChatRoom, OpsRoom])
    status = bus.app(STATUS, allow_anonymous=True, rooms=[StatusFeedRoom])
    return bus, admin, status


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, Application, Application, str]:
    bus, admin, status = three_apps(jwt_auth)
    return bus, admin, status, await serve(bus.asgi_app())


def admin_token(user: str) -> str:
    return JWTAuth(secret=ADMIN_SECRET).issue(user, role="admin")


async def test_same_room_and_event_names_stay_in_their_application(
    served: tuple[EventBus, Application, Application, str], py_client: Connect, token: Token
) -> None:
    bus, admin, _, url = served
    # alice is in "chat:42" of both applications, under the same user id, from two tabs.
    main_tab = await py_client(url, token=token("alice"))
    admin_tab = await py_client(url, token=admin_token("alice"), namespace=ADMIN)
    assert await main_tab.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    assert await admin_tab.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}

    for i in range(3):
        await bus.broadcast(MessageEvent(chat_id="42", text=f"main {i}"))
    for i in range(2):
        await admin.broadcast(AdminMessageEvent(chat_id="42", text=f"admin {i}"))
    await bus.emit_to_room("chat:42", "raw", {"app": "/"})  # the untyped path is scoped the same way
    await admin.emit_to_user("alice", AdminNoticeEvent(text="admin only"))
    await bus.emit_to_all(NoticeEvent(text="main only"))
    await admin.emit_to_all(EverywhereEvent(text="admin everyone"))

    await main_tab.fence(bus)
    await admin_tab.fence(admin)
    assert [m["text"] for m in main_tab.received("message")] == ["main 0", "main 1", "main 2"]
    assert [m["text"] for m in admin_tab.received("message")] == ["admin 0", "admin 1"]
    assert main_tab.received("raw") == [{"app": "/"}]
    assert admin_tab.received("raw") == []
    assert main_tab.received("notice") == [{"text": "main only"}]
    assert admin_tab.received("notice") == [{"text": "admin only"}]
    assert (main_tab.received("everywhere"), admin_tab.received("everywhere")) == ([], [{"text": "admin everyone"}])


@pytest.mark.node
async def test_browser_clients_of_two_applications_are_isolated(
    served: tuple[EventBus, Application, Application, str], js_client: StartJS, token: Token
) -> None:
    bus, admin, _, url = served
    main_page = await js_client(url, token=token("alice"))
    admin_page = await js_client(url, token=admin_token("alice"), namespace=ADMIN)
    assert admin_page.lifecycle()[0]["type"] == "connect"
    assert await main_page.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    assert await admin_page.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    assert (await admin_page.call("join_ops"))["ok"] is True
    assert (await main_page.call("join_ops"))["error"]["code"] == "unknown_event"  # no such room in "/"

    await bus.broadcast(MessageEvent(chat_id="42", text="to main"))
    await admin.broadcast(AdminMessageEvent(chat_id="42", text="to admin"))
    await admin.emit_to_room(OpsRoom(), AdminNoticeEvent(text="ops"))
    await bus.emit_to_user("alice", NoticeEvent(text="main personal"))
    await bus.emit_to_user("alice", "last", {})
    await admin.emit_to_user("alice", "last", {})

    await main_page.inbox.wait_for("last")
    await admin_page.inbox.wait_for("last")
    assert main_page.received("message") == [{"chat_id": "42", "text": "to main"}]
    assert admin_page.received("message") == [{"chat_id": "42", "text": "to admin"}]
    assert main_page.received("notice") == [{"text": "main personal"}]
    assert admin_page.received("notice") == [{"text": "ops"}]


async def test_each_application_has_its_own_auth_policy(
    served: tuple[EventBus, Application, Application, str], py_client: Connect, token: Token
) -> None:
    _, admin, status, url = served
    reader = await py_client(url, namespace=STATUS)  # anonymous: the public feed lets it in
    assert await reader.call("join_feed") == {"ok": True, "room": "feed"}
    await status.broadcast(StatusEvent(state="degraded"))
    assert await reader.inbox.wait_for("status") == [{"state": "degraded"}]

    assert await connect_error(url, namespace=ADMIN) == {"message": "unauthorized"}
    assert await connect_error(url) == {"message": "unauthorized"}  # "/" still requires a token
    # The admin application has its own authenticator: a valid token of "/" is not an admin token, nor the reverse.
    assert await connect_error(url, auth={"token": token("alice")}, namespace=ADMIN) == {"message": "unauthorized"}
    assert await connect_error(url, auth={"token": admin_token("alice")}) == {"message": "unauthorized"}
    assert await connect_error(url, auth={"token": "garbage"}, namespace=STATUS) == {"message": "unauthorized"}
    assert await connect_error(url, namespace="/nope") == "Unable to connect"  # python-socketio's own refusal

    staff = await py_client(url, token=admin_token("alice"), namespace=ADMIN)
    assert (await staff.call("join_ops"))["ok"] is True
    assert admin.connection_count() == 1


async def test_authorize_is_per_application(jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token) -> None:
    bus = EventBus(auth=jwt_auth)
    bus.app(ADMIN, authorize=lambda user, environ: user is not None and user.claims.get("role") == "admin")
    url = await serve(bus.asgi_app())

    assert await connect_error(url, auth={"token": token("bob")}, namespace=ADMIN) == {"message": "forbidden"}
    assert (await py_client(url, token=token("bob"))).sio.connected
    assert (await py_client(url, token=token("ann", role="admin"), namespace=ADMIN)).sio.connected


async def test_no_payload_reaches_another_applications_rooms(
    served: tuple[EventBus, Application, Application, str], py_client: Connect, token: Token
) -> None:
    bus, admin, _, url = served
    staff = await py_client(url, token=admin_token("ann"), namespace=ADMIN)
    await staff.call("join_chat", {"chat_id": "42"})
    mallory = await py_client(url, token=token("alice"))  # a member of chat 42 in "/", not an admin

    assert (await mallory.call("join_ops"))["error"]["code"] == "unknown_event"
    assert (await mallory.call("join_chat", {"chat_id": "/admin"}))["error"]["code"] == "forbidden"
    assert (await mallory.call("escalate", {"text": "x"}))["error"]["code"] == "unknown_event"
    # A hand-made packet addressed to /admin over mallory's connection, which never joined /admin: python-socketio
    # drops it, since that connection has no sid in the namespace.
    await mallory.sio.eio.send('2/admin,["join_chat",{"chat_id":"42"}]')
    await mallory.sio.eio.send('2/admin,["join_ops",{}]')

    await admin.broadcast(AdminMessageEvent(chat_id="42", text="staff only"))
    await admin.emit_to_room(OpsRoom(), AdminNoticeEvent(text="ops only"))
    assert await staff.inbox.wait_for("message") == [{"chat_id": "42", "text": "staff only"}]
    await mallory.fence(bus)
    assert mallory.received("message") == []
    assert mallory.received("notice") == []
    assert [c.app for c in bus.connections("alice")] == ["/"]


async def test_sending_through_the_wrong_application_is_a_clear_error(jwt_auth: JWTAuth) -> None:
    bus, admin, status = three_apps(jwt_auth)

    with pytest.raises(WrongApplicationError, match=r"AdminMessageEvent belongs to application '/admin', not '/'"):
        await bus.broadcast(AdminMessageEvent(chat_id="42", text="x"))
    with pytest.raises(WrongApplicationError, match="MessageEvent belongs to application '/'"):
        await admin.broadcast(MessageEvent(chat_id="42", text="x"))
    with pytest.raises(WrongApplicationError, match="StatusEvent"):
        await admin.emit_to_user("alice", StatusEvent(state="up"))
    with pytest.raises(WrongApplicationError, match="ChatRoom belongs to application '/'"):
        await admin.emit_to_room(ChatRoom(chat_id="42"), AdminNoticeEvent(text="x"))
    with pytest.raises(WrongApplicationError, match="OpsRoom"):
        await bus.join_room("some-sid", OpsRoom())
    with pytest.raises(WrongApplicationError, match="AdminChatRoom"):
        bus.add_room(AdminChatRoom)
    with pytest.raises(WrongApplicationError, match="SendMessage"):
        admin.on(SendMessage)
    with pytest.raises(WrongApplicationError, match="Escalate"):
        status.on(Escalate)
    assert isinstance(WrongApplicationError("x"), ValueError)

    with capture_broadcasts() as sent:  # events of every application, and module-level broadcast() routes
        await status.emit_to_all(EverywhereEvent(text="maintenance"))
        await broadcast(AdminMessageEvent(chat_id="42", text="routed"))
        await broadcast(MessageEvent(chat_id="42", text="main"))
    assert [(s.app, s.name, s.rooms) for s in sent] == [
        ("/status", "everywhere", None),
        ("/admin", "message", ["chat:42"]),
        ("/", "message", ["chat:42", "business_monitoring:1"]),
    ]


async def test_module_level_broadcast_needs_the_application_declared(jwt_auth: JWTAuth) -> None:
    EventBus(auth=jwt_auth)
    with pytest.raises(WrongApplicationError, match=r"no application '/admin'; declare it with bus.app"):
        await broadcast(AdminMessageEvent(chat_id="42", text="x"))
    eventbus.set_default(None)
    with capture_broadcasts() as sent:  # with no bus at all, capture still records per application
        await broadcast(StatusEvent(state="up"))
    assert [(s.app, s.rooms) for s in sent] == [("/status", ["feed"])]


def test_application_declaration_errors(jwt_auth: JWTAuth, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTBUS_JWT_SECRET", raising=False)
    bus = EventBus(auth=jwt_auth)
    admin = bus.app(ADMIN)
    assert admin.auth is bus.auth  # the bus's authenticator unless another is given
    assert bus.apps[ADMIN] is admin
    assert list(bus.apps) == ["/", ADMIN]
    with pytest.raises(ConfigurationError, match="already exists"):
        bus.app(ADMIN)
    with pytest.raises(ConfigurationError, match="already exists"):
        bus.app("/")
    with pytest.raises(ConfigurationError, match="not an application path"):
        bus.app("*")
    with pytest.raises(ValueError, match="application path 'admin' must be"):
        bus.app("admin")
    anonymous_bus = EventBus(allow_anonymous=True)
    with pytest.raises(ConfigurationError, match=r"application '/admin' needs auth=\.\.\. or allow_anonymous=True"):
        anonymous_bus.app(ADMIN)


async def test_autodiscover_puts_rooms_in_their_application(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth)
    with pytest.raises(ConfigurationError, match=r"declare it first with bus.app\('/admin', ...\)"):
        bus.autodiscover("tests.eventbus.apps_sample")
    admin = bus.app(ADMIN)
    status = bus.app(STATUS, allow_anonymous=True)
    bus.autodiscover("tests.eventbus.apps_sample")
    assert [room.prefix for room in admin.rooms] == ["chat", "ops"]
    assert admin.rooms[0] is AdminChatRoom
    assert [room.prefix for room in status.rooms] == ["feed"]
    assert bus.rooms == []


async def test_apps_declared_in_the_environment_and_in_a_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, serve: Serve, py_client: Connect, token: Token
) -> None:
    monkeypatch.setenv("EVENTBUS_JWT_SECRET", SECRET)
    monkeypatch.setenv("EVENTBUS_APPS", json.dumps([{"path": STATUS, "allow_anonymous": True}]))
    from_json = EventBus()
    assert from_json.apps[STATUS].allow_anonymous is True

    config = tmp_path / "apps.toml"
    config.write_text(
        f'[[apps]]\npath = "{STATUS}"\nallow_anonymous = true\n\n'
        f'[[apps]]\npath = "{ADMIN}"\njwt_secret = "{ADMIN_SECRET}"\njwt_audience = "admin"\n'
    )
    monkeypatch.setenv("EVENTBUS_APPS", str(config))
    bus = EventBus(rooms=[ChatRoom])
    admin = bus.apps[ADMIN]
    assert (bus.apps[STATUS].allow_anonymous, admin.allow_anonymous) == (True, False)
    assert isinstance(admin.auth, JWTAuth)
    assert admin.auth.audience == "admin"
    url = await serve(bus.asgi_app())

    assert (await py_client(url, namespace=STATUS)).sio.connected
    assert await connect_error(url, namespace=ADMIN) == {"message": "unauthorized"}
    assert await connect_error(url, auth={"token": token("ann")}, namespace=ADMIN) == {"message": "unauthorized"}
    good = JWTAuth(secret=ADMIN_SECRET, audience="admin").issue("ann", audience="admin")
    staff = await py_client(url, token=good, namespace=ADMIN)
    await admin.emit_to_user("ann", "hello", {"from": "toml"})
    assert await staff.inbox.wait_for("hello") == [{"from": "toml"}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("apps.yaml", "must be a JSON list or the path of an existing .toml or .json file"),
        ('[{"path": "/admin", "allow_anonymous": "maybe"}]', "allow_anonymous"),
        ('[{"path": "/admin", "jwt_secrets": "typo"}]', "jwt_secrets"),
    ],
)
def test_bad_apps_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("EVENTBUS_APPS", value)
    with pytest.raises(ValueError, match=message):
        EventBus(allow_anonymous=True)


def test_apps_file_without_an_apps_list(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    config = tmp_path / "apps.json"
    config.write_text(json.dumps([{"path": "/admin"}]))
    monkeypatch.setenv("EVENTBUS_APPS", str(config))
    with pytest.raises(ValueError, match="must hold a list named 'apps'"):
        EventBus(allow_anonymous=True)
    config.write_text(json.dumps({"apps": [{"path": "/admin", "allow_anonymous": True}]}))
    assert EventBus(allow_anonymous=True).apps["/admin"].allow_anonymous is True


async def test_raw_namespace_handlers_still_work_beside_applications(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth)
    bus.app(ADMIN)

    async def ping(sid: str, data: Any) -> dict[str, Any]:
        return {"pong": data}

    bus.sio.on("raw_ping", ping, namespace=ADMIN)  # bus.sio stays the escape hatch, per namespace
    url = await serve(bus.asgi_app())
    staff = await py_client(url, token=token("ann"), namespace=ADMIN)
    assert await staff.call("raw_ping", 1) == {"pong": 1}
    with pytest.raises(socketio.exceptions.BadNamespaceError):
        await staff.sio.emit("raw_ping", 1, namespace="/")


async def test_one_multiplexed_connection_is_two_isolated_connections(
    jwt_auth: JWTAuth, serve: Serve, token: Token, stack: AsyncExitStack
) -> None:
    # A page that opens io(url) and io(url + "/admin") shares one engine.io connection between them.
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom], settings=EventBusSettings(rate_limit=0.001, rate_burst=2))
    admin = bus.app(ADMIN, rooms=[AdminChatRoom])
    url = await serve(bus.asgi_app())
    client = socketio.AsyncClient(reconnection=False)
    received: dict[str, list[Any]] = {"/": [], ADMIN: []}
    for namespace, inbox in received.items():
        client.on("message", inbox.append, namespace=namespace)
    await client.connect(
        url,
        auth={"token": token("alice", role="admin")},
        namespaces=["/", ADMIN],
        transports=["websocket"],
        wait_timeout=5,
    )
    stack.push_async_callback(client.disconnect)
    main_sid, admin_sid = client.get_sid("/"), client.get_sid(ADMIN)

    assert main_sid != admin_sid
    assert {(c.app, c.sid) for c in bus.connections("alice")} == {("/", main_sid), (ADMIN, admin_sid)}
    # Each application has its own rate-limit bucket: spending the "/" one leaves /admin's full.
    acks = [await client.call("join_chat", {"chat_id": "42"}, timeout=5) for _ in range(3)]
    assert [ack["ok"] for ack in acks] == [True, True, False]
    assert acks[2]["error"]["code"] == "rate_limited"
    assert (await client.call("join_chat", {"chat_id": "42"}, namespace=ADMIN, timeout=5))["ok"] is True

    await bus.broadcast(MessageEvent(chat_id="42", text="main"))
    await admin.broadcast(AdminMessageEvent(chat_id="42", text="admin"))
    await admin.disconnect(admin_sid)  # closes the /admin connection only
    await bus.emit_to_sid(main_sid, MessageEvent(chat_id="42", text="still here"))
    for _ in range(100):
        if len(received["/"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert [m["text"] for m in received["/"]] == ["main", "still here"]
    assert [m["text"] for m in received[ADMIN]] == ["admin"]
    assert [c.app for c in bus.connections("alice")] == ["/"]
    assert client.connected
