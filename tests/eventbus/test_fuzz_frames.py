"""Fuzz: raw frames, before python-socketio's decoder, never leave a traceback, a stuck connection or a ghost."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus, EventBusSettings, JWTAuth
from tests.conftest import SECRET
from tests.eventbus import chat_handlers
from tests.raw import RawWebSocket
from tests.sample import ChatRoom, LobbyRoom
from tests.servers import ThreadedServer
from tests.waiting import wait_until

TOKEN = JWTAuth(secret=SECRET).issue("fuzzer")

json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
).map(lambda value: json.dumps(value))
structured = st.builds(
    lambda kind, attachments, namespace, ack, body: f"4{kind}{attachments}{namespace}{ack}{body}",
    st.sampled_from("0123456789"),
    st.sampled_from(["", "1-", "3-", "99-", "-", "x-"]),
    st.sampled_from(["", "/", "/admin,", "/nope,", "/,"]),
    st.sampled_from(["", "1", "42", "9" * 20]),
    st.one_of(
        json_texts,
        json_texts.map(lambda text: f'["join_lobby",{text}]'),
        json_texts.map(lambda text: f'["send_message",{{"chat_id":"1","text":{text}}}]'),
        st.text(max_size=40),
        st.just("[" * 2000),
        st.just('["x",' + "1" * 200 + "]"),
        st.just('["x",{"_placeholder":true,"num":5}]'),
    ),
)
single = st.one_of(
    structured, st.text(max_size=30), st.binary(max_size=30), st.sampled_from(["", "2", "3", "5", "6", "1"])
)
binary_message = st.builds(  # a header then attachments: as many as announced, fewer (half a message) or more
    lambda event, announced, ack, attachments: [
        f'45{announced}-{ack}["{event}",{{"chat_id":"1","content":{{"_placeholder":true,"num":0}}}}]',
        *attachments,
    ],
    st.sampled_from(["send_file", "send_message", "no_such_event"]),  # declares bytes, text only, unknown
    st.integers(1, 3),
    st.sampled_from(["", "5"]),
    st.lists(st.binary(max_size=30), max_size=4),
)
frames = st.lists(st.one_of(single.map(lambda frame: [frame]), binary_message), min_size=1, max_size=4).map(
    lambda groups: [frame for group in groups for frame in group]
)


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[ThreadedServer, EventBus]]:
    bus = EventBus(
        auth=JWTAuth(secret=SECRET),
        rooms=[ChatRoom, LobbyRoom],
        settings=EventBusSettings(rate_limit=100_000, rate_burst=100_000),
    )
    chat_handlers.install(bus)
    with ThreadedServer(bus.asgi_app()) as server:
        yield server, bus


async def exchange(bus: EventBus, url: str, sent: list[str | bytes]) -> str:
    """Send ``sent`` on a fresh connection, then a probe: ``usable``, ``closed`` (the server ended it) or ``left``.

    ``left``: the frames held an engine.io CLOSE, after which a client closes its websocket itself, or a
    Socket.IO DISCONNECT, after which the server does not answer in that namespace.
    """
    raw = await RawWebSocket(url).open(TOKEN)
    try:
        for frame in sent:
            await raw.send(frame)
        if any(isinstance(frame, str) and frame.startswith(("1", "41")) for frame in sent):
            return "left"
        try:
            async with asyncio.timeout(2):
                ack = await raw.call("join_lobby", {}, ack=987654)
        except ConnectionError:
            return "closed"
        except TimeoutError:
            raise AssertionError(f"no answer to the probe after {sent!r}") from None
        assert ack["ok"], ack
        return "usable"
    finally:
        await raw.close()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=frames)
def test_raw_frames_never_leave_a_traceback_a_stuck_connection_or_a_ghost(
    running: tuple[ThreadedServer, EventBus], sent: list[str | bytes], caplog: pytest.LogCaptureFixture
) -> None:
    server, bus = running
    with caplog.at_level(logging.INFO):
        outcome = server.run(exchange(bus, server.url, sent))

        server.run(wait_until(lambda: not (bus.connection_count() or bus.sio.eio.sockets), "no ghost", 5))
    assert outcome in ("usable", "closed", "left")
    bad = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert bad == [], (sent, bad)
    assert len(bus.inbound_guard) == 0
    assert bus.sio._binary_packet == {}  # no half-built binary message outlives its connection
