"""Frames written straight to idle websockets are the bytes the normal path writes, under each uvicorn ws."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from engineio import packet as eio_packet
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from eventbus import EventBus, EventBusSettings
from eventbus.testing import serve
from eventbus.transport.frames import FramedPacket, FrameWriter, text_frame
from tests.raw import RawWebSocket
from tests.sample import NoticeEvent

WS_IMPLEMENTATIONS = [
    "websockets-sansio",
    # uvicorn 0.54 deprecates its legacy-websockets implementation; it is still served, so still covered.
    pytest.param("websockets", marks=pytest.mark.filterwarnings("ignore::uvicorn.config.UvicornDeprecationWarning")),
    "wsproto",
]
FENCE = '42["fence"]'


@settings(max_examples=200, deadline=None)
@given(size=st.one_of(st.integers(0, 300), st.sampled_from([125, 126, 127, 65535, 65536, 65537, 70_000])))
def test_text_frame_is_websockets_own_server_frame(size: int) -> None:
    payload = bytes((i * 7) % 256 for i in range(size))

    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_framed_packet_frames_python_engineio_encoding() -> None:
    pkt = FramedPacket('2["notice",{"text":"é"}]')

    assert pkt.frame == text_frame(pkt.encode().encode())
    assert pkt.frame is pkt.frame  # built once, shared by every recipient


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each `FrameWriter.write` call answered: ``True`` when it took the packets to write them itself."""
    answers: list[bool] = []
    write = FrameWriter.write

    def recording(self: FrameWriter, socket: Any, packets: list[Any]) -> bool:
        answers.append(write(self, socket, packets))
        return answers[-1]

    monkeypatch.setattr(FrameWriter, "write", recording)
    return answers


async def wire_after_broadcasts(ws: str, *, fast: bool) -> list[bytes]:
    """Two raw clients in ``r1``; broadcasts of every frame-header size, an ack between them; the bytes each got."""
    bus = EventBus(allow_anonymous=True, settings=EventBusSettings(fast_emit=fast, coalesce_turns=0))

    @bus.sio.on("ask")  # type: ignore[untyped-decorator]
    async def ask(sid: str, seq: int) -> int:
        await bus.emit_to_room("r1", NoticeEvent(text=f"before ack {seq}"))
        return seq

    async with serve(bus.asgi_app(), ws=ws) as url:
        clients = [await RawWebSocket(url).open() for _ in range(2)]
        sids = []
        for client in clients:
            await client.send("40")
            sids.append(json.loads(str(await client.recv())[2:])["sid"])
            await bus.join_room(sids[-1], "r1")
            client.wire.clear()
        for text in ("short", "x" * 200, "y" * 70_000, "é" * 40):
            await bus.emit_to_room("r1", NoticeEvent(text=text))
            await asyncio.sleep(0)
        # In one loop turn: frames wait for its end, and neither a packet python-socketio sends itself (as an ack)
        # nor a binary message (both queued) may overtake them or be overtaken.
        await bus.emit_to_room("r1", NoticeEvent(text="same turn 1"))
        await bus.emit_to_room("r1", NoticeEvent(text="same turn 2"))
        between = eio_packet.Packet(eio_packet.MESSAGE, '2["between"]')
        await bus.sio.eio.send_packet(bus.sio.manager.eio_sid_from_sid(sids[0], "/"), between)
        await bus.emit_to_room("r1", NoticeEvent(text="same turn 3"))
        await bus.emit_to_room("r1", "blob", {"data": b"\x00\xff"})
        await bus.emit_to_room("r1", NoticeEvent(text="same turn 4"))
        assert await clients[0].call("ask", 7, ack=7) == 7
        await bus.emit_to_all("fence")
        for client in clients:
            while FENCE not in client.frames:
                await client.recv()
            await client.close()
        return [bytes(client.wire) for client in clients]


@pytest.mark.parametrize("ws", WS_IMPLEMENTATIONS)
async def test_direct_writes_put_the_normal_paths_bytes_on_the_wire(ws: str, direct_writes: list[bool]) -> None:
    normal = await wire_after_broadcasts(ws, fast=False)
    assert direct_writes == []
    fast = await wire_after_broadcasts(ws, fast=True)

    assert fast == normal
    assert direct_writes.count(True) >= 10  # the broadcasts to both idle clients at least: the path ran
    assert normal[0].index(b"before ack 7") < normal[0].index(b"437[7]")
    order = [b"same turn 1", b"same turn 2", b"between", b"same turn 3", b"\x00\xff", b"same turn 4", b"before ack 7"]
    assert [normal[0].index(part) for part in order] == sorted(normal[0].index(part) for part in order)


async def test_permessage_deflate_keeps_the_normal_path(direct_writes: list[bool]) -> None:
    bus = EventBus(allow_anonymous=True, settings=EventBusSettings(coalesce_turns=0))
    async with serve(bus.asgi_app(), ws_per_message_deflate=True) as url:
        endpoint = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        async with connect(endpoint, compression="deflate") as client:
            assert str(await client.recv()).startswith("0{")
            await client.send("40")
            sid = json.loads(str(await client.recv())[2:])["sid"]
            await bus.join_room(sid, "r1")
            assert client.protocol.extensions  # deflate negotiated: frames differ per connection
            await bus.emit_to_room("r1", NoticeEvent(text="z" * 500))

            assert await asyncio.wait_for(client.recv(), 5) == '42["notice",{"text":"' + "z" * 500 + '"}]'
    assert direct_writes == [False]
