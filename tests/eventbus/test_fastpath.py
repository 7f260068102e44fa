"""The fast broadcast path puts the same bytes on the wire as python-socketio's own, for every kind of recipient.

Each scenario runs on python-socketio's ``AsyncManager`` and on `FastEmitManager`,
with and without write coalescing, with raw Engine.IO clients (websocket frames,
long-polling bodies) recording every packet they receive after connecting; the
recordings must be equal, and right.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from eventbus import EventBus, EventBusSettings
from eventbus.transport.fastpath import FastEmitManager, FastRedisManager
from tests.redis_server import RedisServer
from tests.sample import MessageEvent, NoticeEvent
from tests.servers import serving

FENCE = '42["fence"]'
Frame = str | bytes


class WsClient:
    """An Engine.IO 4 websocket client that keeps every frame after the Socket.IO connect."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sid = ""
        self.frames: list[Frame] = []

    @classmethod
    async def connect(cls, url: str) -> WsClient:
        ws = await connect(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket", compression=None)
        client = cls(ws)
        assert str(await ws.recv()).startswith("0{")
        await ws.send("40")
        connected = str(await ws.recv())
        client.sid = json.loads(connected[2:])["sid"]
        return client

    async def until_fence(self) -> list[Frame]:
        while FENCE not in self.frames:
            frame = await asyncio.wait_for(self.ws.recv(), 5)
            if frame == "2":
                await self.ws.send("3")
            else:
                self.frames.append(frame)
        return self.frames

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        await self.ws.close()


class PollingClient:
    """An Engine.IO 4 long-polling client; packets of a response body are split on the record separator."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.sid = ""
        self.frames: list[Frame] = []

    @classmethod
    async def connect(cls, url: str) -> PollingClient:
        http = httpx.AsyncClient(timeout=10)
        opened = (await http.get(f"{url}/socket.io/?EIO=4&transport=polling")).text
        eio_sid = json.loads(opened[1:])["sid"]
        client = cls(http, f"{url}/socket.io/?EIO=4&transport=polling&sid={eio_sid}")
        await client.send("40")
        (connected,) = await client._poll()
        client.sid = json.loads(str(connected)[2:])["sid"]
        return client

    async def _poll(self) -> list[str]:
        return (await self.http.get(self.url)).text.split("\x1e")

    async def until_fence(self) -> list[Frame]:
        while FENCE not in self.frames:
            for frame in await self._poll():
                if frame == "2":
                    await self.send("3")
                elif frame != "6":
                    self.frames.append(frame)
        return self.frames

    async def send(self, text: str) -> None:
        (await self.http.post(self.url, content=text)).raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()


Client = WsClient | PollingClient
Scenario = Callable[[EventBus, dict[str, Client]], Awaitable[None]]


@pytest.fixture(params=[False, True], ids=["normal", "fast"])
def fast_emit(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def run_scenario(
    scenario: Scenario, layout: dict[str, tuple[str, list[str]]], *, fast: bool, coalesce_turns: int = 64
) -> dict[str, Any]:
    """Serve a bus, connect one raw client per ``layout`` entry (transport, rooms), run ``scenario``, fence, record."""
    bus = EventBus(allow_anonymous=True, settings=EventBusSettings(fast_emit=fast, coalesce_turns=coalesce_turns))
    assert isinstance(bus.sio.manager, FastEmitManager) is fast
    assert (getattr(bus.sio.manager, "coalescer", None) is not None) is (fast and coalesce_turns > 0)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serving(bus.asgi_app()))
        clients: dict[str, Client] = {}
        for name, (transport, rooms) in layout.items():
            client: Client = await (WsClient if transport == "websocket" else PollingClient).connect(url)
            stack.push_async_callback(client.close)
            clients[name] = client
            for room in rooms:
                await bus.join_room(client.sid, room)
        await scenario(bus, clients)
        await bus.emit_to_all("fence")
        return {name: await client.until_fence() for name, client in clients.items()}


async def compare(scenario: Scenario, layout: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """Frames received on the normal path, after asserting the fast path, coalesced or not, received the same."""
    normal = await run_scenario(scenario, layout, fast=False)
    fast = await run_scenario(scenario, layout, fast=True)
    uncoalesced = await run_scenario(scenario, layout, fast=True, coalesce_turns=0)
    assert fast == normal
    assert uncoalesced == normal
    return normal


TRANSPORTS = ["websocket", "polling"]
NOTICE = '42["notice",{"text":"hi"}]'


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_room(transport: str) -> None:
    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        await bus.emit_to_room("r1", NoticeEvent(text="hi"))

    frames = await compare(scenario, {"in": (transport, ["r1"]), "out": (transport, ["r2"])})

    assert frames == {"in": [NOTICE, FENCE], "out": [FENCE]}


async def test_overlapping_rooms_deliver_once_on_both_transports() -> None:
    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        await bus.emit_to_room(["r1", "r2", "r3"], NoticeEvent(text="hi"))
        await bus.broadcast(MessageEvent(chat_id="42", text="typed"))

    layout = {
        "ws12": ("websocket", ["r1", "r2"]),
        "ws23": ("websocket", ["r2", "r3", "chat:42", "business_monitoring:1"]),
        "poll13": ("polling", ["r1", "r3", "business_monitoring:1"]),
        "ws_other": ("websocket", ["r4"]),
    }
    frames = await compare(scenario, layout)

    message = '42["message",{"chat_id":"42","text":"typed"}]'
    assert frames == {
        "ws12": [NOTICE, FENCE],
        "ws23": [NOTICE, message, FENCE],
        "poll13": [NOTICE, message, FENCE],
        "ws_other": [FENCE],
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_skip_sid(transport: str) -> None:
    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        await bus.emit_to_room(["r1", "r2"], NoticeEvent(text="hi"), exclude=clients["sender"].sid)
        await bus.emit_to_all("all", exclude=[clients["sender"].sid, clients["other"].sid])

    frames = await compare(scenario, {"sender": (transport, ["r1"]), "other": (transport, ["r1", "r2"])})

    assert frames == {"sender": [FENCE], "other": [NOTICE, FENCE]}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_binary_payload(transport: str) -> None:
    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        await bus.emit_to_room("r1", "blob", {"name": "b", "data": b"\x00\x01\xff"})

    frames = await compare(scenario, {"a": (transport, ["r1"]), "b": (transport, ["r1"])})

    header = '451-["blob",{"name":"b","data":{"_placeholder":true,"num":0}}]'
    attachment: Frame = b"\x00\x01\xff" if transport == "websocket" else "bAAH/"
    assert frames == {"a": [header, attachment, FENCE], "b": [header, attachment, FENCE]}


async def test_binary_payload_to_websocket_and_polling_clients_in_one_room() -> None:
    """Fast path only: python-engineio 4.15 shares one packet, and its first encoding, between both transports.

    On the normal path the polling client's payload then fails with ``TypeError``
    (str + bytes) and it never receives the message; the fast path makes binary
    packets per recipient.
    """

    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        await bus.emit_to_room("r1", "blob", {"data": b"\x00\x01\xff"})

    frames = await run_scenario(scenario, {"ws": ("websocket", ["r1"]), "poll": ("polling", ["r1"])}, fast=True)

    header = '451-["blob",{"data":{"_placeholder":true,"num":0}}]'
    assert frames == {"ws": [header, b"\x00\x01\xff", FENCE], "poll": [header, "bAAH/", FENCE]}


async def test_callback_takes_the_normal_path_and_gets_its_ack(fast_emit: bool) -> None:
    acks: list[Any] = []
    acked = asyncio.Event()

    def on_ack(*args: Any) -> None:
        acks.append(args)
        acked.set()

    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        client = clients["a"]
        assert isinstance(client, WsClient)
        await bus.sio.emit("ask", {"q": 1}, to=client.sid, callback=on_ack)
        question = await asyncio.wait_for(client.ws.recv(), 5)
        assert question == '421["ask",{"q":1}]'
        await client.send('431["yes"]')
        await asyncio.wait_for(acked.wait(), 5)

    frames = await run_scenario(scenario, {"a": ("websocket", [])}, fast=fast_emit)

    assert acks == [("yes",)]
    assert frames == {"a": [FENCE]}


async def test_a_burst_mixed_with_direct_sends_arrives_in_order_on_both_transports() -> None:
    """Broadcasts one per loop turn, as from Redis, so coalescing holds most of them between sends to one socket."""

    async def scenario(bus: EventBus, clients: dict[str, Client]) -> None:
        for seq in range(60):
            if seq % 7 == 3:
                await bus.emit_to_sid(clients["ws1"].sid, NoticeEvent(text=f"to ws1 {seq}"))
            elif seq % 11 == 5:
                await bus.emit_to_room("r1", NoticeEvent(text=f"others {seq}"), exclude=clients["poll"].sid)
            else:
                await bus.emit_to_room(["r1", "r2"], NoticeEvent(text=f"all {seq}"))
            await asyncio.sleep(0)

    layout = {"ws1": ("websocket", ["r1"]), "ws2": ("websocket", ["r1", "r2"]), "poll": ("polling", ["r2", "r1"])}
    frames = await compare(scenario, layout)

    texts = {name: [json.loads(str(frame)[2:])[1]["text"] for frame in got[:-1]] for name, got in frames.items()}
    assert texts["ws1"] == [
        f"to ws1 {seq}" if seq % 7 == 3 else f"others {seq}" if seq % 11 == 5 else f"all {seq}" for seq in range(60)
    ]
    assert texts["ws2"] == [t for t in texts["ws1"] if not t.startswith("to ws1")]
    assert texts["poll"] == [t for t in texts["ws2"] if not t.startswith("others")]


async def test_an_ack_never_overtakes_the_broadcast_its_handler_sent_first() -> None:
    """The ack is sent by python-socketio itself; the broadcast before it may be held: it must go first."""
    bus = EventBus(allow_anonymous=True, settings=EventBusSettings(coalesce_turns=64))

    @bus.sio.on("shout")  # type: ignore[untyped-decorator]
    async def shout(sid: str, seq: int) -> int:
        await bus.emit_to_room("r1", NoticeEvent(text=str(seq)))
        return seq

    async with serving(bus.asgi_app()) as url:
        listener, shouter = await WsClient.connect(url), await WsClient.connect(url)
        for client in (listener, shouter):
            await bus.join_room(client.sid, "r1")
        for seq in range(30):
            await shouter.send(f'42{seq}["shout",{seq}]')
        received: list[str] = []
        while len(received) < 60:
            frame = str(await asyncio.wait_for(shouter.ws.recv(), 5))
            if frame != "2":
                received.append(frame)
        await bus.emit_to_all("fence")
        assert len(await listener.until_fence()) == 31
        await listener.close()
        await shouter.close()

    assert received == [frame for seq in range(30) for frame in (f'42["notice",{{"text":"{seq}"}}]', f"43{seq}[{seq}]")]


async def test_a_message_sent_before_a_disconnect_arrives_before_it() -> None:
    bus = EventBus(allow_anonymous=True, settings=EventBusSettings(coalesce_turns=64))
    async with serving(bus.asgi_app()) as url:
        client = await WsClient.connect(url)
        await bus.join_room(client.sid, "r1")

        await bus.emit_to_room("r1", NoticeEvent(text="first"))  # opens a batch: what follows soon is held
        await asyncio.sleep(0)
        await bus.disconnect(client.sid, reason="bye")
        frames: list[str] = []
        while "41" not in frames:
            frames.append(str(await asyncio.wait_for(client.ws.recv(), 5)))
        await client.close()

    assert [frame for frame in frames if frame != "2"] == [
        '42["notice",{"text":"first"}]',
        '42["session_ended",{"reason":"bye"}]',
        "41",
    ]


@pytest.fixture
async def fast_bus() -> AsyncIterator[tuple[EventBus, str]]:
    bus = EventBus(allow_anonymous=True)
    async with serving(bus.asgi_app()) as url:
        yield bus, url


async def test_disconnected_recipient_is_skipped_and_others_still_receive(fast_bus: tuple[EventBus, str]) -> None:
    bus, url = fast_bus
    gone, stays = await WsClient.connect(url), await WsClient.connect(url)
    for client in (gone, stays):
        await bus.join_room(client.sid, "r1")
    eio_sid = bus.sio.manager.eio_sid_from_sid(gone.sid, "/")
    bus.sio.eio.sockets[eio_sid].closed = True  # closed in engine.io, still listed in the room: a disconnect race

    await bus.emit_to_room("r1", NoticeEvent(text="hi"))
    await bus.emit_to_all("fence")

    assert await stays.until_fence() == [NOTICE, FENCE]
    assert eio_sid not in bus.sio.eio.sockets  # engine.io's own send path dropped it, as it does without the fast path
    await gone.close()
    await stays.close()


async def redis_fanout(url: str, *, fast: bool) -> dict[str, Any]:
    """Two buses sharing Redis, a client on each in overlapping rooms; bus ``a`` broadcasts, then a fence."""
    buses = [EventBus(allow_anonymous=True, redis_url=url, settings=EventBusSettings(fast_emit=fast)) for _ in "ab"]
    assert all(isinstance(bus.sio.manager, FastRedisManager) is fast for bus in buses)
    async with AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        for name, bus in zip("ab", buses, strict=True):
            # The lifespan of asgi_app() starts the bus: subscribed to Redis before the server accepts anyone.
            client = await WsClient.connect(await stack.enter_async_context(serving(bus.asgi_app())))
            stack.push_async_callback(client.close)
            clients[name] = client
            await bus.join_room(client.sid, "r1")
            await bus.join_room(client.sid, "r2")
        await buses[0].emit_to_room(["r1", "r2"], NoticeEvent(text="hi"), exclude=clients["a"].sid)
        await buses[0].emit_to_room(["r1", "r2"], NoticeEvent(text="hi"))
        await buses[0].emit_to_all("fence")
        return {name: await client.until_fence() for name, client in clients.items()}


@pytest.mark.redis
async def test_redis_fanout_delivers_once_on_both_processes(redis_server: RedisServer) -> None:
    normal = await redis_fanout(redis_server.url, fast=False)
    fast = await redis_fanout(redis_server.url, fast=True)

    assert fast == normal == {"a": [NOTICE, FENCE], "b": [NOTICE, NOTICE, FENCE]}
