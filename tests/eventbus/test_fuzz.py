"""Fuzz: arbitrary JSON payloads to every join handler and client event, binary ones to those that take them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus, EventBusSettings, JWTAuth
from tests.clients import PyClient
from tests.conftest import SECRET
from tests.eventbus import chat_handlers
from tests.sample import BoardRoom, ChatRoom, LobbyRoom
from tests.servers import ThreadedServer

EVENTS = [
    "join_chat",
    "leave_chat",
    "join_lobby",
    "leave_lobby",
    "join_board",
    "leave_board",
    "send_message",
    "typing",
    "enter_chat",
    "close_chat",
    "send_file",
    "no_such_event",
]
BINARY_EVENTS = ["send_file"]
"""The events that declare a bytes field: binary data to any other is a refused packet (a strike, not an ack)."""
CODES = {"invalid_payload", "forbidden", "unauthorized", "unknown_event", "chat_closed", "too_many_rooms"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=12,
)
payloads = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(["chat_id", "text", "org", "board"]), json_values, max_size=4),
    st.binary(max_size=64),
    st.dictionaries(st.sampled_from(["chat_id", "text"]), st.binary(max_size=16), max_size=2),
    st.tuples(json_values, st.binary(max_size=8)),
    st.fixed_dictionaries(  # a SendFile, its bytes as top-level and nested attachments
        {"chat_id": st.text(max_size=5), "content": st.binary(max_size=32)},
        optional={"parts": st.lists(st.fixed_dictionaries({"data": st.binary(max_size=8) | json_values}), max_size=3)},
    ),
)


@pytest.fixture(scope="module")
def connection() -> Iterator[tuple[ThreadedServer, PyClient]]:
    bus = EventBus(
        auth=JWTAuth(secret=SECRET),
        rooms=[ChatRoom, LobbyRoom, BoardRoom],
        settings=EventBusSettings(rate_limit=100_000, rate_burst=100_000),
    )
    chat_handlers.install(bus)
    with ThreadedServer(bus.asgi_app()) as running:
        client = running.run(PyClient(running.url, token=JWTAuth(secret=SECRET).issue("alice")).connect())
        yield running, client
        running.run(client.close())


def has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(has_bytes(item) for item in value.values())
    return isinstance(value, list | tuple) and any(has_bytes(item) for item in value)


def check_ack(event: str, ack: Any) -> None:
    assert isinstance(ack, dict), (event, ack)
    if ack["ok"]:
        assert event.startswith(("join_", "leave_", "send_message", "typing", "enter_chat", "send_file")), (event, ack)
    else:
        assert ack["error"]["code"] in CODES, (event, ack)
        assert isinstance(ack["error"]["message"], str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_every_payload_gets_an_ack_and_the_connection_survives(
    connection: tuple[ThreadedServer, PyClient], payload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running, client = connection
    events = BINARY_EVENTS if has_bytes(payload) else EVENTS

    async def send_everywhere() -> list[Any]:
        args = payload if isinstance(payload, tuple) else (payload,)
        return await asyncio.gather(*(client.call(event, *args) for event in events))

    with caplog.at_level(logging.WARNING):
        acks = running.run(send_everywhere())

    for event, ack in zip(events, acks, strict=True):
        check_ack(event, ack)
    assert client.sio.connected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
