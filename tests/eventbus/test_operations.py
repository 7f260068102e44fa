"""Operations options over the wire: transports, pings, compression and log levels, as settings and as arguments."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import socketio

from eventbus import EventBus, EventBusSettings, JWTAuth
from tests.clients import JSClient, PyClient
from tests.sample import ChatRoom, NoticeEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
StartJS = Callable[..., Awaitable[JSClient]]
Token = Callable[..., str]

LOGGERS = ("eventbus", "socketio.server", "engineio.server")


@pytest.fixture
def _restore_log_levels() -> Iterator[None]:
    # The log-level options set process-wide loggers; later tests must not inherit DEBUG.
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in LOGGERS}
    yield
    for name, (level, handlers) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers


async def test_polling_client_works_when_polling_is_allowed(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, transports=["polling", "websocket"])
    url = await serve(bus.asgi_app())
    client = await py_client(url, token=token("alice"), transports=["polling"])
    await bus.emit_to_user("alice", NoticeEvent(text="over long-polling"))
    assert await client.inbox.wait_for("notice") == [{"text": "over long-polling"}]
    assert [c.transport for c in bus.connections("alice")] == ["polling"]


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_polling_client_is_refused_when_only_websocket_is_allowed(
    monkeypatch: pytest.MonkeyPatch, jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token, how: str
) -> None:
    if how == "environment":
        monkeypatch.setenv("EVENTBUS_TRANSPORTS", "websocket")
        bus = EventBus(auth=jwt_auth)
    else:
        bus = EventBus(auth=jwt_auth, transports=["websocket"])
    url = await serve(bus.asgi_app())

    with pytest.raises(socketio.exceptions.ConnectionError):
        await py_client(url, token=token("alice"), transports=["polling"])
    async with httpx.AsyncClient(base_url=url) as http:  # what a browser's first long-poll gets
        refused = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert refused.status_code == 400
    assert bus.connection_count() == 0
    websocket = await py_client(url, token=token("alice"), transports=["websocket"])
    assert websocket.sio.connected


@pytest.mark.node
async def test_browser_polling_client_is_refused_when_only_websocket_is_allowed(
    jwt_auth: JWTAuth, serve: Serve, js_client: StartJS, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, settings=EventBusSettings(transports=["websocket"]))
    url = await serve(bus.asgi_app())
    page = await js_client(url, token=token("alice"), transports=["polling"])
    assert page.lifecycle()[0]["type"] == "connect_error"
    assert (await js_client(url, token=token("alice"), transports=["websocket"])).lifecycle()[0]["type"] == "connect"


async def test_ping_settings_reach_engineio_and_the_client(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBUS_PING_INTERVAL", "7")
    monkeypatch.setenv("EVENTBUS_PING_TIMEOUT", "3")
    monkeypatch.setenv("EVENTBUS_COMPRESSION_THRESHOLD", "2048")
    from_env = EventBus(auth=jwt_auth)
    assert (from_env.sio.eio.ping_interval, from_env.sio.eio.ping_timeout) == (7, 3)
    assert from_env.sio.eio.compression_threshold == 2048

    bus = EventBus(auth=jwt_auth, ping_interval=2, ping_timeout=4)  # arguments win over the environment
    url = await serve(bus.asgi_app())
    client = await py_client(url, token=token("alice"))
    assert (client.sio.eio.ping_interval, client.sio.eio.ping_timeout) == (2, 4)  # from the server's handshake


@pytest.mark.parametrize(("threshold", "encoding"), [(0, "gzip"), (100_000, None)])
async def test_compression_threshold(jwt_auth: JWTAuth, serve: Serve, threshold: int, encoding: str | None) -> None:
    bus = EventBus(auth=jwt_auth, settings=EventBusSettings(compression_threshold=threshold))
    url = await serve(bus.asgi_app())
    async with httpx.AsyncClient(base_url=url) as http:
        handshake = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Accept-Encoding": "gzip"}
        )
    assert handshake.status_code == 200
    assert handshake.headers.get("content-encoding") == encoding


@pytest.mark.usefixtures("_restore_log_levels")
async def test_debug_log_names_every_message_in_and_out_with_sid_and_user(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom], log_level="debug")
    assert logging.getLogger("eventbus").level == logging.DEBUG
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))

    with caplog.at_level(logging.DEBUG, logger="eventbus"):
        await alice.call("join_chat", {"chat_id": "42"})
        await alice.call("no_such_event", {})
        await bus.emit_to_sid(alice.sid, NoticeEvent(text="one"))
        await bus.emit_to_room("chat:42", NoticeEvent(text="two"), exclude=alice.sid)

    lines = [r.getMessage() for r in caplog.records if r.name == "eventbus.traffic"]
    assert lines == [
        f"in  app=/ sid={alice.sid} user=alice event=join_chat",
        f"in  app=/ sid={alice.sid} user=alice event=no_such_event",
        f"out app=/ event=notice to={alice.sid}(user=alice) skip=[]",
        f"out app=/ event=notice to=chat:42 skip=['{alice.sid}']",
    ]
    assert all("token" not in line for line in lines)


@pytest.mark.usefixtures("_restore_log_levels")
async def test_socketio_and_engineio_log_levels(
    monkeypatch: pytest.MonkeyPatch,
    jwt_auth: JWTAuth,
    serve: Serve,
    py_client: Connect,
    token: Token,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("EVENTBUS_SOCKETIO_LOG_LEVEL", "info")
    monkeypatch.setenv("EVENTBUS_ENGINEIO_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("EVENTBUS_LOG_LEVEL", "INFO")
    bus = EventBus(auth=jwt_auth)
    assert bus.sio.logger is logging.getLogger("socketio.server")
    assert bus.sio.eio.logger is logging.getLogger("engineio.server")
    assert (bus.sio.logger.level, bus.sio.eio.logger.level) == (logging.INFO, logging.WARNING)
    assert logging.getLogger("eventbus").level == logging.INFO
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))

    await bus.emit_to_user("alice", NoticeEvent(text="logged by python-socketio"))
    await alice.inbox.wait_for("notice")

    assert any(
        r.name == "socketio.server" and """emitting event "notice" to ['user:alice'] [/]""" in r.getMessage()
        for r in caplog.records
    )


def test_bad_operations_settings_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_TRANSPORTS", "websocket,carrier-pigeon")
    with pytest.raises(ValueError, match="transports"):
        EventBusSettings()
    monkeypatch.setenv("EVENTBUS_TRANSPORTS", "websocket")
    monkeypatch.setenv("EVENTBUS_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="log_level"):
        EventBusSettings()
    monkeypatch.setenv("EVENTBUS_LOG_LEVEL", "debug")
    monkeypatch.setenv("EVENTBUS_PING_TIMEOUT", "0")
    with pytest.raises(ValueError, match="ping_timeout"):
        EventBusSettings()
