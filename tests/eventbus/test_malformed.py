"""Malformed input over a raw websocket: the exact reply, at most one log line, never a traceback, no ghost."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus import EventBus, EventBusSettings, JWTAuth
from tests.clients import PyClient
from tests.eventbus import chat_handlers
from tests.raw import RawWebSocket
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


@pytest.fixture
def open_raw(stack: AsyncExitStack) -> Callable[[str, Token], Awaitable[RawWebSocket]]:
    async def open_(url: str, token: Token) -> RawWebSocket:
        raw = RawWebSocket(url)
        stack.push_async_callback(raw.close)
        return await raw.open(token("mallory"))

    return open_


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
    pytest.param('451-7["send_message",{"_placeholder":true,"num":7}]', "placeholder", id="placeholder-out-of-range"),
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


async def test_a_half_received_binary_message_never_swallows_the_next_packet(
    served: tuple[EventBus, str], token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = served
    raw = await open_raw(url, token)
    await raw.send('451-["send_message",{"chat_id":"1","text":{"_placeholder":true,"num":0}}]')
    # The attachment never comes; the next packet is a packet, not the attachment.
    assert (await raw.call("join_lobby", {}))["ok"]
    # A complete binary message still reaches its handler, which answers.
    await raw.send('451-9["send_message",{"chat_id":"1","text":{"_placeholder":true,"num":0}}]')
    await raw.send(b"hello")
    frame = await raw.recv()
    assert isinstance(frame, str)
    assert frame.startswith("439["), frame
    assert problems(caplog) == []


async def test_binary_attachments_are_bounded_in_total_bytes(
    jwt_auth: JWTAuth, serve: Serve, token: Token, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[LobbyRoom], settings=EventBusSettings(max_payload_bytes=10_000))
    url = await serve(bus.asgi_app())
    raw = await open_raw(url, token)
    await raw.send('453-["send_message",{"a":{"_placeholder":true,"num":0}}]')
    await raw.send(b"x" * 6000)
    await raw.send(b"x" * 6000)  # 12,000 bytes in one message: refused, the binary message is dropped
    await raw.send(b"x" * 10)  # and the third attachment is unannounced now
    assert (await raw.call("join_lobby", {}))["ok"]
    assert bus.inbound_guard.refused == 2
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
