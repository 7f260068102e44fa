"""Hand-written Engine.IO/Socket.IO clients that do what real clients never do: stop reading, send garbage.

`RawWebSocket` speaks engine.io over a plain websocket (websockets' sans-I/O protocol on an asyncio
stream), so a client that stops calling ``recv`` stops reading.
`RawPolling` speaks long-polling over httpx and can simply stop polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

RECORD_SEPARATOR = "\x1e"


def event_packet(event: str, data: Any, ack: int | None = None) -> str:
    """A Socket.IO EVENT for the namespace ``/``, as an engine.io MESSAGE frame."""
    return f"42{'' if ack is None else ack}{json.dumps([event, data], separators=(',', ':'))}"


class RawWebSocket:
    """One engine.io websocket connection to ``url`` over a plain asyncio stream; ``frames`` is what was received.

    websockets' sans-I/O protocol does the framing, and nothing reads the socket unless a method here
    is awaited: a client that stops calling them stops reading, and the server's writes stall once the
    kernel buffers are full (a few MB on loopback). websockets' own asyncio client would not do: it keeps
    reading into memory.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.protocol = ClientProtocol(parse_uri(f"ws://{self.host}:{self.port}/socket.io/?EIO=4&transport=websocket"))
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.frames: list[str | bytes] = []
        self.wire = bytearray()
        """Every byte received after the opening handshake's HTTP response: the server's frames as it wrote them."""
        self._pending: list[Frame] = []

    async def open(self, token: str | None = None) -> RawWebSocket:
        """Open the websocket and, with ``token``, connect the namespace ``/`` (the ``40`` handshake)."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while self.protocol.handshake_exc is None and self.protocol.state is State.CONNECTING:
            await self._read()
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        opened = await self.recv()
        assert isinstance(opened, str), opened
        assert opened.startswith("0{"), opened
        if token is not None:
            await self.send("40" + json.dumps({"token": token}))
            reply = await self.recv()
            assert isinstance(reply, str), reply
            assert reply.startswith("40{"), reply
        return self

    async def _flush(self) -> None:
        assert self.writer is not None
        self.writer.write(b"".join(self.protocol.data_to_send()))
        await self.writer.drain()

    async def _read(self) -> bool:
        """Read once from the socket; ``False`` at the end of the stream."""
        assert self.reader is not None
        try:
            data = await self.reader.read(65536)
        except ConnectionResetError:  # the server aborted the connection (a write timeout)
            data = b""
        if data:
            if self.protocol.state is not State.CONNECTING:
                self.wire += data
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self._pending.extend(event for event in self.protocol.events_received() if isinstance(event, Frame))
        if data:
            with contextlib.suppress(ConnectionResetError):
                await self._flush()  # pongs and the closing handshake
        return bool(data)

    async def send(self, frame: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) frame."""
        if isinstance(frame, str):
            self.protocol.send_text(frame.encode())
        else:
            self.protocol.send_binary(frame)
        await self._flush()

    async def send_raw_text(self, payload: bytes) -> None:
        """Send a text frame whose payload is ``payload`` as is: invalid UTF-8 included."""
        self.protocol.send_frame(Frame(Opcode.TEXT, payload))
        await self._flush()

    async def next_frame(self, timeout: float = 10) -> str | bytes | None:
        """The next data frame, ``None`` when the connection has ended."""
        async with asyncio.timeout(timeout):
            while True:
                while self._pending:
                    frame = self._pending.pop(0)
                    if frame.opcode is Opcode.TEXT:
                        text = bytes(frame.data).decode()
                        self.frames.append(text)
                        return text
                    if frame.opcode is Opcode.BINARY:
                        self.frames.append(bytes(frame.data))
                        return bytes(frame.data)
                if not await self._read():
                    return None

    async def recv(self, timeout: float = 10) -> str | bytes:
        """The next frame that is not an engine.io ping (pings are answered)."""
        while True:
            frame = await self.next_frame(timeout)
            if frame is None:
                raise ConnectionError(f"the server closed the connection (code {self.close_code})")
            if frame == "2":
                await self.send("3")
                continue
            return frame

    async def call(self, event: str, data: Any, ack: int = 1) -> Any:
        """Emit with an ack id and return the ack (its first argument); frames received meanwhile are kept."""
        await self.send(event_packet(event, data, ack))
        prefix = f"43{ack}"
        while True:
            frame = await self.recv()
            if isinstance(frame, str) and frame.startswith(prefix):
                return json.loads(frame[len(prefix) :])[0]

    async def read_to_end(self, timeout: float = 30) -> list[str | bytes]:
        """Read until the server closes the connection; return the data frames that came (pings answered)."""
        received: list[str | bytes] = []
        while (frame := await self.next_frame(timeout)) is not None:
            received.append(frame)
            if frame == "2":
                await self.send("3")
        return received

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame, ``None`` before it (or when the TCP connection was cut)."""
        return self.protocol.close_rcvd.code if self.protocol.close_rcvd is not None else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


class RawPolling:
    """One engine.io long-polling session: ``post`` packets, ``poll`` once; stop calling ``poll`` to stall."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=60)
        self.sid = ""

    def _endpoint(self) -> str:
        query = "EIO=4&transport=polling" + (f"&sid={self.sid}" if self.sid else "")
        return f"{self.url}/socket.io/?{query}"

    async def open(self, token: str) -> RawPolling:
        opened = await self.poll()
        assert opened[0].startswith("0{"), opened
        self.sid = json.loads(opened[0][1:])["sid"]
        await self.post("40" + json.dumps({"token": token}))
        connected = await self.poll()
        assert connected[0].startswith("40{"), connected
        return self

    async def post(self, *packets: str) -> httpx.Response:
        return await self.post_body(RECORD_SEPARATOR.join(packets).encode())

    async def post_body(self, body: bytes) -> httpx.Response:
        """POST ``body`` as it is: invalid UTF-8, broken record separators and all."""
        return await self.http.post(self._endpoint(), content=body)

    async def poll(self) -> list[str]:
        """One GET: the packets it returned (raises on an HTTP error)."""
        response = await self.http.get(self._endpoint())
        response.raise_for_status()
        return response.text.split(RECORD_SEPARATOR)

    async def call(self, event: str, data: Any, ack: int = 1) -> Any:
        await self.post(event_packet(event, data, ack))
        prefix = f"43{ack}"
        while True:
            for packet in await self.poll():
                if packet.startswith(prefix):
                    return json.loads(packet[len(prefix) :])[0]

    async def close(self) -> None:
        await self.http.aclose()
