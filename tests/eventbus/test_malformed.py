"""Malformed input over a raw websocket: the exact reply, at most one log line, never a traceback, no ghost."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import pytest

from eventbus import AdminUI, EventBus, EventBusSettings, JWTAuth
from eventbus.observability.admin_ui import hash_password
from tests.clients import PyClient
from tests.eventbus import chat_handlers
from tests.raw import RECORD_SEPARATOR, RawPolling, RawWebSocket
from tests.sample import ChatRoom, LobbyRoom
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]
OpenRaw = Callable[[str, Token], Awaitable[RawWebSocket]]


def invalid_packet(frame: str | bytes | None, ack: int = 7) -> str:
    assert isinstance(frame, str), frame
    assert frame.startswith(f"43{ack}["), frame
    [reply] = json.loads(frame[len(f"43{ack}") :])
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_packet", reply
    message: str = reply["error"]["message"]
    return message


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], settings=EventBusSettings())
    chat_handlers.install(bus)
    return bus, await serve(bus.asgi_app())


Raw = TypeVar("Raw", RawWebSocket, RawPolling)


def opener(stack: AsyncExitStack, kind: type[Raw]) -> Callable[[str, Token], Awaitable[Raw]]:
    """Opens a raw client of ``kind`` as mallory, closed after the test."""

    async def open_(url: str, token: Token) -> Raw:
        client = kind(url)
        stack.push_async_callback(client.close)
        return await client.open(token("mallory"))

    return open_


@pytest.fixture
def open_raw(stack: AsyncExitStack) -> Callable[[str, Token], Awaitable[RawWebSocket]]:
    return opener(stack, RawWebSocket)


@pytest.fixture
def open_polling(stack: AsyncExitStack) -> Callable[[str, Token], Awaitable[RawPolling]]:
    return opener(stack, RawPolling)


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks, errors and warnings: none are allowed."""
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


ACKED = [
    pytest.param("427[", "invalid JSON", id="invalid-json"),
    pytest.param("427" + "[" * 100_000, "nested more than 64 levels deep", id="deep-nesting"),
    pytest.param("427" + "[" * 70 + "]" * 70, "nested more than 64 levels deep", id="nesting-past-the-limit"),
    pytest.param('427["send_message",{"n":' + "9" * 5000 + "}]", "more than 100 digits", id="huge-int"),
    pytest.param("427[123,{}]", "first element is the event name", id="non-string-event"),
    pytest.param("427[]", "first element is the event name", id="empty-event"),
    pytest.param('427{"a":1}', "first element is the event name", id="object-event"),
    pytest.param('4599999-7["send_message",{}]', "more than 10 binary attachments", id="attachment-count-too-long"),
    pytest.param('4511-7["send_message",{}]', "more than 10 binary attachments", id="too-many-attachments"),
    pytest.param('451-7["send_file",{"_placeholder":true,"num":7}]', "placeholder", id="placeholder-out-of-range"),
    pytest.param(
        '451-7["send_message",{"chat_id":"1","text":{"_placeholder":true,"num":0}}]',
        "binary attachments for 'send_message', not a client event with a bytes field",
        id="binary-for-a-text-only-event",
    ),
    pytest.param(
        '451-7["no_such_event",{"_placeholder":true,"num":0}]',
        "binary attachments for 'no_such_event', not a client event with a bytes field",
        id="binary-for-an-unknown-event",
    ),
]


@pytest.mark.parametrize(("frame", "reason"), ACKED)
async def test_a_malformed_packet_with_an_ack_id_is_answered_invalid_packet(
    served: tuple[EventBus, str],
    token: Token,
    open_raw: OpenRaw,
    caplog: pytest.LogCaptureFixture,
    frame: str,
    reason: str,
) -> None:
    _, url = served
    raw = await open_raw(url, token)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        await raw.send(frame)
        assert reason in invalid_packet(await raw.recv())
    assert (await raw.call("join_lobby", {}))["ok"]  # still usable
    lines = [r for r in caplog.records if r.name == "eventbus.transport.guard"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "user=mallory" in lines[0].getMessage()
    assert problems(caplog) == []


UNANSWERED = [
    pytest.param("49[1]", id="unknown-socketio-type"),
    pytest.param('44"not allowed"', id="connect-error-from-a-client"),
    pytest.param("4", id="empty-message"),
    pytest.param("", id="empty-frame"),
    pytest.param("hello", id="garbage-frame"),
    pytest.param("b!!!", id="base64-frame-over-websocket"),
    pytest.param(b"\x00\x01attachment", id="unannounced-binary"),
    pytest.param("40[1]", id="connect-with-an-array"),
]


@pytest.mark.parametrize("frame", UNANSWERED)
async def test_a_malformed_frame_without_an_ack_id_costs_one_line_and_the_connection_stays(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture, frame: str | bytes
) -> None:
    bus, url = served
    raw = await open_raw(url, token)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        await raw.send(frame)
        assert (await raw.call("join_lobby", {}))["ok"]
    lines = [r for r in caplog.records if r.name == "eventbus.transport.guard"]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert problems(caplog) == []
    assert bus.connection_count() == 1


def file_received(frame: str | bytes | None, ack: int) -> dict[str, Any]:
    assert isinstance(frame, str), frame
    assert frame.startswith(f"43{ack}["), frame
    [reply] = json.loads(frame[len(f"43{ack}") :])
    assert reply["ok"] is True, reply
    data: dict[str, Any] = reply["data"]
    return data


async def test_an_event_that_declares_bytes_takes_binary_attachments_top_level_and_nested(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus, url = served
    raw = await open_raw(url, token)
    await raw.send(
        '453-9["send_file",{"chat_id":"1","content":{"_placeholder":true,"num":0},'
        '"parts":[{"data":{"_placeholder":true,"num":1}},{"data":{"_placeholder":true,"num":2}}]}]'
    )
    for attachment in (b"\x00\x01", b"\x02", b"\xff" * 10):
        await raw.send(attachment)
    assert file_received(await raw.recv(), 9) == {"size": 13, "head": "000102ffffffffff"}
    assert bus.inbound_guard.refused == 0
    assert problems(caplog) == []


async def test_a_refused_binary_message_holds_none_of_its_attachments(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus, url = served
    guard = bus.inbound_guard
    raw = await open_raw(url, token)
    [eio_sid] = bus.sio.eio.sockets
    with caplog.at_level(logging.INFO, logger="eventbus"):
        await raw.send(
            '452-7["send_message",{"chat_id":"1","text":{"_placeholder":true,"num":0},"x":{"_placeholder":true,"num":1}}]'
        )
        assert "not a client event with a bytes field" in invalid_packet(await raw.recv())
        await raw.send(b"a" * 50_000)
        await wait_until(lambda: guard._pending[eio_sid].remaining == 1, "the first attachment to be dropped")
        assert eio_sid not in bus.sio._binary_packet  # python-socketio never saw the message
        await raw.send(b"b" * 50_000)
        await wait_until(lambda: eio_sid not in guard._pending, "the second attachment to be dropped")
        # Its attachments were due, so neither counts as a refusal of its own, and the next packet is a packet.
        assert (await raw.call("join_lobby", {}))["ok"]
    assert guard.refused == 1
    assert bus.sio._binary_packet == {}
    assert len([r for r in caplog.records if r.name == "eventbus.transport.guard"]) == 1
    assert problems(caplog) == []


async def test_binary_data_from_socketio_asyncclient(
    served: tuple[EventBus, str], token: Token, py_client: Callable[..., Awaitable[PyClient]]
) -> None:
    bus, url = served
    client = await py_client(url, token=token("alice"))
    ack = await client.call("send_file", {"chat_id": "1", "content": b"\x00hi", "parts": [{"data": bytes(range(5))}]})
    assert ack == {"ok": True, "data": {"size": 8, "head": "0068690001020304"}}
    refused = await client.call("send_message", {"chat_id": "1", "text": b"binary"})
    assert refused["ok"] is False
    assert refused["error"]["code"] == "invalid_packet"
    assert "not a client event with a bytes field" in refused["error"]["message"]
    assert (await client.call("send_message", {"chat_id": "1", "text": "text"}))["ok"]  # the connection is fine
    assert bus.inbound_guard.refused == 1


async def test_a_half_received_binary_message_never_swallows_the_next_packet(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus, url = served
    raw = await open_raw(url, token)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        # Two attachments announced, one sent: the next text packet is a packet, not the second attachment.
        await raw.send(
            '452-9["send_file",{"chat_id":"1","content":{"_placeholder":true,"num":0},'
            '"parts":[{"data":{"_placeholder":true,"num":1}}]}]'
        )
        await raw.send(b"first")
        await raw.send('425["join_lobby",{}]')
        replies = {frame[:3]: frame for frame in [await raw.recv(), await raw.recv()] if isinstance(frame, str)}
    # Both are answered: the join as usual, the void binary message with invalid_packet (after the join's ack).
    assert set(replies) == {"435", "439"}, replies
    assert json.loads(replies["435"][3:])[0]["ok"] is True
    assert "still missing 1 attachment(s) when the next packet came" in invalid_packet(replies["439"], 9)
    assert bus.sio._binary_packet == {}
    assert bus.inbound_guard.refused == 1
    assert len([r for r in caplog.records if r.name == "eventbus.transport.guard"]) == 1
    # Not jammed: a whole binary message still reaches its handler.
    await raw.send('451-8["send_file",{"chat_id":"1","content":{"_placeholder":true,"num":0}}]')
    await raw.send(b"hello")
    assert file_received(await raw.recv(), 8) == {"size": 5, "head": "68656c6c6f"}
    assert problems(caplog) == []


@pytest.mark.parametrize("ending", ["tcp-close", "engineio-close"])
async def test_a_connection_that_leaves_mid_binary_message_leaves_nothing_behind(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture, ending: str
) -> None:
    bus, url = served
    raw = await open_raw(url, token)
    [eio_sid] = bus.sio.eio.sockets
    await raw.send(
        '453-9["send_file",{"chat_id":"1","content":{"_placeholder":true,"num":0},'
        '"parts":[{"data":{"_placeholder":true,"num":1}},{"data":{"_placeholder":true,"num":2}}]}]'
    )
    await raw.send(b"x" * 10_000)
    await wait_until(lambda: eio_sid in bus.sio._binary_packet, "python-socketio to hold the half message")
    assert len(bus.inbound_guard) == 1
    if ending == "engineio-close":
        await raw.send("1")
    await raw.close()
    await wait_until(lambda: bus.connection_count() == 0 and not bus.sio.eio.sockets, "the connection to be gone")
    assert bus.sio._binary_packet == {}
    assert len(bus.inbound_guard) == 0
    assert bus.inbound_guard.refused == 0
    assert problems(caplog) == []


async def test_binary_attachments_are_bounded_in_total_bytes(
    jwt_auth: JWTAuth, serve: Serve, token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[LobbyRoom], settings=EventBusSettings(max_payload_bytes=10_000))
    chat_handlers.install(bus)
    url = await serve(bus.asgi_app())
    raw = await open_raw(url, token)
    [eio_sid] = bus.sio.eio.sockets
    await raw.send('453-["send_file",{"chat_id":"1","content":{"_placeholder":true,"num":0}}]')
    await raw.send(b"x" * 6000)
    await raw.send(b"x" * 6000)  # 12,000 bytes in one message: refused, the binary message is dropped
    await raw.send(b"x" * 10)  # and the third attachment is unannounced now
    assert (await raw.call("join_lobby", {}))["ok"]
    assert bus.inbound_guard.refused == 2
    assert eio_sid not in bus.sio._binary_packet
    assert problems(caplog) == []


async def test_a_connection_that_keeps_sending_garbage_is_ended_and_others_are_unaffected(
    served: tuple[EventBus, str],
    token: Token,
    py_client: Callable[..., Awaitable[PyClient]],
    open_raw: OpenRaw,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, url = served
    other = await py_client(url, token=token("alice"))
    raw = await open_raw(url, token)
    with caplog.at_level(logging.INFO, logger="eventbus"):
        for _ in range(5000):
            await raw.send("4]]]")
        frames = await raw.read_to_end()
    assert frames[-1] == "1", frames[-3:]  # the engine.io CLOSE
    await wait_until(lambda: bus.connection_count() == 1, "the garbage sender to be gone")
    lines = [r for r in caplog.records if r.name == "eventbus.transport.guard"]
    assert len(lines) <= 20, len(lines)  # the server-wide budget, not one line per packet
    assert "ending the connection" in lines[-1].getMessage()
    assert problems(caplog) == []
    assert (await other.call("join_lobby", {}))["ok"]


async def test_invalid_utf8_closes_the_websocket_and_the_connection_is_gone_at_once(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus, url = served
    raw = await open_raw(url, token)
    assert bus.connection_count() == 1
    with caplog.at_level(logging.INFO):
        await raw.send_raw_text(b'42["join_lobby",{"x":"\xff\xfe"}]')
        await raw.read_to_end()
    assert raw.close_code == 1007
    assert problems(caplog) == []
    assert [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"] == [
        "a client sent invalid UTF-8 in a text frame: websocket closed (1007)"
    ]
    await wait_until(lambda: bus.connection_count() == 0, "the connection to leave connection_count()", 2)


UNDECODABLE_BODIES = [
    (b'42["join_lobby",{"x":"\xff\xfe"}]', "not UTF-8"),  # invalid UTF-8
    (b"hello", "cannot decode"),  # garbage
    (b"40" + RECORD_SEPARATOR.encode(), "cannot decode"),  # an empty record
    (RECORD_SEPARATOR.encode(), "cannot decode"),  # a separator alone
    (RECORD_SEPARATOR.join(["3"] * 17).encode(), "more than 16 packets"),
    (b"d=", "cannot decode"),  # an empty JSONP form
    (b"9", "cannot decode"),  # an engine.io packet type python-engineio does not know
]


async def test_an_undecodable_long_polling_body_is_dropped_with_one_line_and_the_session_stays(
    served: tuple[EventBus, str],
    token: Token,
    open_polling: Callable[[str, Token], Awaitable[RawPolling]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, url = served
    polling = await open_polling(url, token)  # one session for them all: fewer than the strikes that end it
    for refused, (body, reason) in enumerate(UNDECODABLE_BODIES, start=1):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = await polling.post_body(body)
            assert response.status_code == 200, body  # python-engineio's answer to a body it could not decode
            assert (await polling.call("join_lobby", {}))["ok"]  # the same session, still usable
        lines = [r.getMessage() for r in caplog.records if r.name == "eventbus.transport.guard"]
        assert len(lines) == 1, (body, lines)
        assert reason in lines[0]
        assert "user=mallory" in lines[0]
        assert problems(caplog) == []
        assert bus.inbound_guard.refused == refused
        assert bus.connection_count() == 1
    caplog.clear()
    with caplog.at_level(logging.INFO):  # an empty body is an empty payload: nothing to refuse
        assert (await polling.post_body(b"")).status_code == 200
        assert (await polling.call("join_lobby", {}))["ok"]
    assert [r for r in caplog.records if r.name == "eventbus.transport.guard"] == []
    assert bus.inbound_guard.refused == len(UNDECODABLE_BODIES)


async def test_a_long_polling_body_over_the_payload_limit_closes_the_session_with_no_poll_waiting(
    jwt_auth: JWTAuth,
    serve: Serve,
    token: Token,
    open_polling: Callable[[str, Token], Awaitable[RawPolling]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = EventBusSettings(max_payload_bytes=20_000, ping_timeout=0.5)
    bus = EventBus(auth=jwt_auth, rooms=[LobbyRoom], settings=settings)
    url = await serve(bus.asgi_app())
    polling = await open_polling(url, token)
    assert bus.connection_count() == 1
    with caplog.at_level(logging.INFO):
        # No poll waiting: answered after the ping timeout (python-engineio alone held it until a poll came).
        response = await polling.post_body(b"4" + b"x" * 20_001)
        assert response.status_code == 400  # python-engineio's answer, and it closes the session
        assert bus.connection_count() == 0
        assert not bus.sio.eio.sockets
    assert problems(caplog) == []
    assert len(bus.inbound_guard) == 0
    # The session is no more (python-engineio logs its "Invalid session" error once per process, then at INFO).
    assert (await polling.http.get(polling._endpoint())).status_code == 400


async def test_a_long_polling_body_over_the_payload_limit_ends_the_waiting_poll_with_close(
    jwt_auth: JWTAuth, serve: Serve, token: Token, open_polling: Callable[[str, Token], Awaitable[RawPolling]]
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[LobbyRoom], settings=EventBusSettings(max_payload_bytes=20_000))
    url = await serve(bus.asgi_app())
    polling = await open_polling(url, token)
    waiting = asyncio.create_task(polling.poll())  # what socket.io-client always has
    [socket] = bus.sio.eio.sockets.values()
    await wait_until(lambda: socket.queue._getters, "the poll to wait")
    assert (await polling.post_body(b"4" + b"x" * 20_001)).status_code == 400
    assert await waiting == ["1"]  # engine.io's CLOSE
    assert bus.connection_count() == 0
    assert not bus.sio.eio.sockets


async def test_with_the_admin_ui_the_guard_still_sees_every_session_and_forgets_it(
    jwt_auth: JWTAuth,
    serve: Serve,
    token: Token,
    open_raw: OpenRaw,
    open_polling: Callable[[str, Token], Awaitable[RawPolling]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # instrument() replaces engine.io's connect and disconnect handlers and patches AsyncSocket's POST handler.
    ui = AdminUI(username="ops", password_hash=hash_password("correct horse battery staple"))
    bus = EventBus(auth=jwt_auth, rooms=[LobbyRoom], admin_ui=ui)
    url = await serve(bus.asgi_app())
    raw = await open_raw(url, token)
    polling = await open_polling(url, token)
    with caplog.at_level(logging.INFO):
        await raw.send("4]]]")
        assert (await polling.post_body(b"\xff\xfe")).status_code == 200
        assert (await raw.call("join_lobby", {}))["ok"]
        assert (await polling.call("join_lobby", {}))["ok"]
    assert bus.inbound_guard.refused == 2
    assert len(bus.inbound_guard) == 2  # a strike each
    await raw.close()
    await polling.post("1")  # engine.io's CLOSE
    await wait_until(lambda: bus.connection_count() == 0, "both sessions to end")
    assert len(bus.inbound_guard) == 0
    assert problems(caplog) == []
