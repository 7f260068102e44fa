"""Fault: a client that sends half a websocket frame, then silence (or a TCP close), over a hand-made websocket.

A plain TCP socket does the websocket handshake by hand and then writes a frame header that announces more
bytes than follow: the server's websocket parser waits for the rest, and engine.io's reader with it. The
session must still end by engine.io's ping timeout, nobody else may be held up, and nothing may stay behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import ctypes.util
import gc
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest

from eventbus import EventBus, EventBusSettings, JWTAuth
from tests.clients import PyClient
from tests.eventbus import chat_handlers
from tests.sample import ChatRoom, LobbyRoom, NoticeEvent
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING_INTERVAL, PING_TIMEOUT = 0.25, 2.0
"""engine.io's ping settings here: short, with a timeout a healthy client meets on a loaded machine.

The healthy client runs in the server's own event loop, so a stall of the loop delays its pong too: 1 s was
missed once on a machine at load 10 (the healthy client dropped, "/ is not a connected namespace")."""
DROPPED_WITHIN = 3 * (PING_INTERVAL + PING_TIMEOUT)
"""A bound for a stuck connection to be dropped (about interval + timeout), with room for a loaded machine."""


def masked_header(length: int, opcode: int = 0x1) -> tuple[bytes, bytes]:
    """The header of a client-to-server websocket frame (FIN set) announcing ``length`` bytes, and its mask."""
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    return header + mask, mask


def masked(payload: bytes, mask: bytes) -> bytes:
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A whole client-to-server websocket frame (clients must mask)."""
    header, mask = masked_header(len(payload), opcode)
    return header + masked(payload, mask)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server-to-client frame (unmasked): its opcode and payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(length)


class HandMadeWebSocket:
    """engine.io over a websocket whose handshake and frames are written by hand on a plain TCP connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, token: str) -> HandMadeWebSocket:
        """The HTTP upgrade, engine.io's OPEN, and the Socket.IO CONNECT of the namespace ``/``."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = (await self.reader.readuntil(b"\r\n\r\n")).decode().lower()
        assert response.startswith("http/1.1 101"), response
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode().lower()
        assert f"sec-websocket-accept: {accept}" in response, response
        opcode, opened = await read_frame(self.reader)
        assert (opcode, opened[:2]) == (0x1, b"0{"), opened
        await self.send(masked_frame(b"40" + json.dumps({"token": token}).encode()))
        opcode, connected = await read_frame(self.reader)
        assert connected.startswith(b"40{"), connected
        return self

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def half_frame(self, announced: int, sent: int) -> None:
        """A text frame header announcing ``announced`` payload bytes, then only ``sent`` of them (all zero)."""
        header, _ = masked_header(announced)
        await self.send(header[:-4] + bytes(4) + (b"4" + bytes(sent))[:sent])  # a zero mask: the payload as is

    async def read_to_end(self) -> list[tuple[int, bytes]]:
        """What the server sends until it closes the TCP connection (pings unanswered: this client is stuck)."""
        assert self.reader is not None
        frames = []
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionResetError):
            while True:
                frames.append(await read_frame(self.reader))
        return frames

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


def websocket_protocols() -> int:
    """uvicorn websocket connections alive in this process: their parsers hold what a half frame sent."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj).__name__ == "WebSocketsSansIOProtocol")


def rss() -> int:
    """This process's resident set size in bytes (the server runs in it): what is still reachable.

    Garbage is collected first (uvicorn's protocol and its transport form a cycle), then glibc returns its free
    memory (``malloc_trim``): freed buffers could otherwise stay in its heap, resident but reusable.
    """
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    settings = EventBusSettings(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom], settings=settings)
    chat_handlers.install(bus)
    return bus, await serve(bus.asgi_app())


@contextlib.asynccontextmanager
async def broadcasting(bus: EventBus) -> AsyncIterator[list[int]]:
    """Broadcast a numbered notice to the lobby every 10 ms until the block ends; yields the numbers sent."""
    sent: list[int] = []

    async def loop() -> None:
        while True:
            await bus.emit_to_room(LobbyRoom(), NoticeEvent(text=str(len(sent))))
            sent.append(len(sent))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    try:
        yield sent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


HELD = 8 << 20
HALF_FRAMES = [
    (100_000, 40_000),  # 40 KB of 100 KB
    (10, 0),  # the header alone
    (1 << 40, 1000),  # a terabyte announced: over uvicorn's ws_max_size, refused when the header arrives
]


@pytest.mark.parametrize("then", ["silence", "tcp-close"])
async def test_half_a_websocket_frame_never_jams_the_server_and_leaves_nothing_behind(
    served: tuple[EventBus, str],
    token: Token,
    py_client: Callable[..., Awaitable[PyClient]],
    stack: AsyncExitStack,
    then: str,
) -> None:
    bus, url = served
    healthy = await py_client(url, token=token("alice"))
    assert (await healthy.call("join_lobby", {}))["ok"]
    tasks, protocols = len(asyncio.all_tasks()), websocket_protocols()
    stuck = [await HandMadeWebSocket(url).open(token(f"stuck-{i}")) for i in range(len(HALF_FRAMES))]
    for client in stuck:
        stack.push_async_callback(client.close)
    async with broadcasting(bus) as numbers:
        for client, (announced, sent) in zip(stuck, HALF_FRAMES, strict=True):
            await client.half_frame(announced, sent)
            if then == "tcp-close":
                await client.close()
        # Within engine.io's ping timeout (a stuck client answers no ping), whatever its reader waits for.
        await wait_until(lambda: bus.connection_count() == 1, "the stuck connections to be dropped", DROPPED_WITHIN)
        await wait_until(lambda: len(bus.sio.eio.sockets) == 1, "engine.io to forget them", DROPPED_WITHIN)
        if then == "silence":  # the server closes the TCP connections itself
            for client in stuck:
                await asyncio.wait_for(client.read_to_end(), DROPPED_WITHIN)
        await healthy.call("join_lobby", {})  # a round trip: the healthy client is served meanwhile
    # Everything broadcast while the stuck clients hung reached the healthy client, in order.
    await healthy.inbox.wait_for("notice", len(numbers), timeout=5)
    assert [int(notice["text"]) for notice in healthy.inbox.events["notice"]] == numbers
    assert len(numbers) > 0
    await wait_until(lambda: websocket_protocols() == protocols, "uvicorn to let go of the stuck websockets", 5)
    await wait_until(lambda: len(asyncio.all_tasks()) <= tasks, "their tasks to end", 5)
    assert len(bus.inbound_guard) == 0


async def test_what_half_frames_had_buffered_is_freed_when_they_are_dropped(
    served: tuple[EventBus, str], token: Token, stack: AsyncExitStack
) -> None:
    # No other connection: python-engineio's service task then keeps the last socket it checked, one of these,
    # for good; it held uvicorn's protocol, and the parser buffer in it, until the websocket let go of it.
    bus, url = served
    stuck = [await HandMadeWebSocket(url).open(token(f"stuck-{i}")) for i in range(3)]
    for client in stuck:
        stack.push_async_callback(client.close)
    before = rss()
    for client in stuck:
        await client.half_frame(12 << 20, HELD)  # under uvicorn's 16 MiB ws_max_size: its parser keeps them
    await wait_until(lambda: rss() - before > len(stuck) * HELD // 2, "the server to buffer the half frames", 5)
    await wait_until(lambda: bus.connection_count() == 0, "the stuck connections to be dropped", DROPPED_WITHIN)
    for client in stuck:
        await asyncio.wait_for(client.read_to_end(), DROPPED_WITHIN)
    await wait_until(lambda: rss() - before < HELD // 2, "the half frames' memory to be released", 5)
    assert websocket_protocols() == 0
