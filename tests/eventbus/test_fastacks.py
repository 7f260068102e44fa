"""The inbound fast path puts the same bytes on the wire as python-socketio's dispatch, on both transports.

Each scenario runs on a bus with ``fast_emit`` (client events answered by `FastAcks`)
and one without (python-socketio decodes and dispatches them), with raw Engine.IO
clients recording every frame until each ack they asked for has come; the
recordings must be equal, and right.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from eventbus import ClientEvent, Context, EventBus, EventBusSettings, EventError
from eventbus.transport.fastacks import EAGER, FastAcks
from tests.eventbus.test_fastpath import Client, PollingClient, WsClient
from tests.sample import ChatRoom, LobbyRoom, MessageEvent
from tests.servers import ThreadedServer, serving

ACK = re.compile(r"^43(?:/[^,]*,)?(\d+)")
BURST = 13
"""Tokens of a connection's rate limit in ``/``: the scenario spends them all (the refused binary packet
and the event without an ack id too), then is refused twice."""


class FaAck(BaseModel):
    seq: int
    text: str


class FaEcho(ClientEvent, name="fa_echo", ack=FaAck):
    seq: int
    text: str


class FaSlow(ClientEvent, name="fa_slow", ack=FaAck):
    """Its handler suspends: the eager start hands it to a task."""

    seq: int


class FaRefuse(ClientEvent, name="fa_refuse"):
    pass


class FaExplode(ClientEvent, name="fa_explode"):
    pass


class FaShout(ClientEvent, name="fa_shout", ack=int):
    seq: int


class FaOther(ClientEvent, name="fa_other", app="/fa", ack=FaAck):
    seq: int


def make_bus(*, fast: bool, rate_burst: int = 10_000, coalesce_turns: int = 64) -> EventBus:
    bus = EventBus(
        allow_anonymous=True,
        rooms=[LobbyRoom, ChatRoom],
        settings=EventBusSettings(
            fast_emit=fast, coalesce_turns=coalesce_turns, rate_limit=0.001, rate_burst=rate_burst
        ),
    )
    other = bus.app("/fa", allow_anonymous=True)

    @bus.on(FaEcho)
    async def echo(ctx: Context, msg: FaEcho) -> FaAck:
        return FaAck(seq=msg.seq, text=msg.text)

    @bus.on(FaSlow)
    async def slow(ctx: Context, msg: FaSlow) -> FaAck:
        await asyncio.sleep(0.01)
        await ctx.emit("slept", {"seq": msg.seq})
        return FaAck(seq=msg.seq, text="slept")

    @bus.on(FaRefuse)
    async def refuse(ctx: Context, msg: FaRefuse) -> None:
        raise EventError("nope", "refused on purpose")

    @bus.on(FaExplode)
    async def explode(ctx: Context, msg: FaExplode) -> None:
        raise RuntimeError("on purpose")

    @bus.on(FaShout)
    async def shout(ctx: Context, msg: FaShout) -> int:
        await ctx.broadcast(MessageEvent(chat_id="1", text=str(msg.seq)), exclude_self=False)
        return msg.seq

    @other.on(FaOther)
    async def in_other(ctx: Context, msg: FaOther) -> FaAck:
        return FaAck(seq=msg.seq, text=ctx.bus.namespace)

    return bus


def answered(bus: EventBus) -> int:
    fast = bus.inbound_guard.fast_acks
    return 0 if fast is None else fast.answered


async def frames_until_acks(client: Client, ack_ids: set[str]) -> list[str | bytes]:
    """Every frame until an ACK has come for each of ``ack_ids`` (pings answered, noops skipped)."""
    frames: list[str | bytes] = []
    missing = set(ack_ids)
    while missing:
        if isinstance(client, WsClient):
            batch = [await asyncio.wait_for(client.ws.recv(), 5)]
        else:
            batch = list(await asyncio.wait_for(client._poll(), 5))
        for frame in batch:
            if frame == "2":
                await client.send("3")
                continue
            if frame == "6":
                continue
            frames.append(frame)
            match = ACK.match(frame) if isinstance(frame, str) else None
            if match:
                missing.discard(match.group(1))
    return frames


async def send_binary(client: Client, data: bytes) -> None:
    if isinstance(client, WsClient):
        await client.ws.send(data)
    else:
        await client.send("b" + base64.b64encode(data).decode())


async def scenario(client: Client) -> list[str | bytes]:
    """What one client sends: every kind of outcome, with and without ack ids, then past its rate limit."""
    await client.send("40/fa,")
    texts = [
        '421["fa_echo",{"seq":1,"text":"a\\u00e9"}]',
        '422["fa_refuse"]',
        '423["fa_echo",{"seq":"x"}]',
        '424["fa_echo",{"seq":1,"text":"a"},2]',
        '425["no_such_event",{}]',
        '426["join_lobby",{}]',
        '427["leave_lobby",{}]',
        '42["fa_echo",{"seq":2,"text":"no ack asked"}]',
        '428["fa_explode"]',
        '429["fa_slow",{"seq":9}]',
        '4210["join_chat",{"chat_id":"1"}]',
        '42/fa,11["fa_other",{"seq":11}]',
    ]
    for text in texts:
        await client.send(text)
    await client.send('451-12["fa_echo",{"_placeholder":true,"num":0}]')
    await send_binary(client, b"\x01\x02\x03")
    for ack_id in (13, 14, 15):  # past the rate limit (/fa's event spends a token of its own bucket)
        await client.send(f'42{ack_id}["fa_echo",{{"seq":{ack_id},"text":"t"}}]')
    return await frames_until_acks(client, {str(n) for n in range(1, 16) if n != 11} | {"11"})


@asynccontextmanager
async def connected(bus: EventBus, transport: str) -> AsyncIterator[Client]:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serving(bus.asgi_app()))
        client: Client = await (WsClient if transport == "websocket" else PollingClient).connect(url)
        stack.push_async_callback(client.close)
        yield client


async def record(transport: str, *, fast: bool) -> list[str | bytes]:
    bus = make_bus(fast=fast, rate_burst=BURST)
    async with connected(bus, transport) as client:
        frames = await scenario(client)
    assert (answered(bus) > 0) is fast
    return [frame for frame in frames if not str(frame).startswith("40/fa,{")]  # its sid differs


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_the_fast_path_sends_what_python_socketio_sends(transport: str) -> None:
    normal = await record(transport, fast=False)
    fast = await record(transport, fast=True)
    # The suspending handler answers when its sleep ends, among whichever frames come then: the rest is in order.
    slept = ['42["slept",{"seq":9}]', '439[{"ok":true,"data":{"seq":9,"text":"slept"}}]']
    for frames in (normal, fast):
        assert [frame for frame in frames if frame in slept] == slept
    assert [frame for frame in fast if frame not in slept] == [frame for frame in normal if frame not in slept]
    acks = {match.group(1): match.string for f in normal if isinstance(f, str) and (match := ACK.match(f))}
    assert acks["1"] == '431[{"ok":true,"data":{"seq":1,"text":"a\\u00e9"}}]'
    assert acks["2"] == '432[{"ok":false,"error":{"code":"nope","message":"refused on purpose"}}]'
    assert '"code":"invalid_payload"' in acks["3"]
    assert '"loc":["seq"]' in acks["3"]
    assert "(got 2 arguments)" in acks["4"]
    assert '"code":"unknown_event"' in acks["5"]
    assert '"code":"unauthorized"' in acks["6"]  # anonymous
    assert acks["7"] == '437[{"ok":true,"room":"lobby"}]'
    assert '"code":"internal"' in acks["8"]
    assert '"code":"unauthorized"' in acks["10"]
    assert acks["11"] == '43/fa,11[{"ok":true,"data":{"seq":11,"text":"/fa"}}]'
    # Binary attachments for an event without a bytes field: refused by the guard before either path (issue 15).
    assert "binary attachments for 'fa_echo', not a client event with a bytes field" in acks["12"]
    assert [('"rate_limited"' in acks[n]) for n in ("13", "14", "15")] == [False, True, True]


async def test_an_ack_never_overtakes_the_broadcast_its_handler_sent_first() -> None:
    """The broadcast may be held by the coalescer, or queued for a busy writer: the ack goes after it either way."""
    bus = make_bus(fast=True, coalesce_turns=64)
    async with serving(bus.asgi_app()) as url:
        listener, shouter = await WsClient.connect(url), await WsClient.connect(url)
        for client in (listener, shouter):
            await bus.join_room(client.sid, ChatRoom(chat_id="1"))
        for seq in range(30):
            await shouter.send(f'42{seq}["fa_shout",{{"seq":{seq}}}]')
        received = await frames_until_acks(shouter, {str(seq) for seq in range(30)})
        for _ in range(30):  # read, so that its close handshake is not stuck behind unread frames
            await asyncio.wait_for(listener.ws.recv(), 5)
        await listener.close()
        await shouter.close()
    assert answered(bus) == 30
    assert bus.sio.manager.frame_writer.sent > 0  # acks written with their turn's frames, not only queued
    kinds = ["ack" if isinstance(f, str) and f.startswith("43") else str(f)[:12] for f in received]
    assert kinds == [kind for _ in range(30) for kind in ('42["message"', "ack")]
    assert [f for f in received if str(f).startswith("43")] == [
        f'43{seq}[{{"ok":true,"data":{seq}}}]' for seq in range(30)
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"seq": json_values, "text": json_values}),
    st.fixed_dictionaries({"seq": st.integers(-(10**6), 10**6), "text": st.text(max_size=30)}),
)


@pytest.fixture(scope="module")
def both_paths() -> Iterator[list[tuple[ThreadedServer, WsClient]]]:
    pairs = []
    with (
        ThreadedServer(make_bus(fast=False).asgi_app()) as normal,
        ThreadedServer(make_bus(fast=True).asgi_app()) as fast,
    ):
        for running in (normal, fast):
            pairs.append((running, running.run(WsClient.connect(running.url))))
        yield pairs
        for running, client in pairs:
            running.run(client.close())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, event=st.sampled_from(["fa_echo", "fa_refuse", "join_lobby", "nope"]))
def test_every_payload_gets_the_same_ack_on_both_paths(
    both_paths: list[tuple[ThreadedServer, WsClient]], payload: Any, event: str
) -> None:
    text = f"421{json.dumps([event, payload], separators=(',', ':'))}"
    frames = [running.run(_ask(client, text)) for running, client in both_paths]
    assert frames[0] == frames[1]
    assert str(frames[0][-1]).startswith("431[{")


async def _ask(client: WsClient, text: str) -> list[str | bytes]:
    await client.send(text)
    return await frames_until_acks(client, {"1"})


class FaDeadline(ClientEvent, name="fa_deadline", ack=FaAck):
    """Its handler gives up on a slow call with ``asyncio.timeout``, as handlers do."""

    seq: int


async def test_a_handlers_own_timeout_cancels_the_handler_not_the_connection() -> None:
    # Found in review: the handler's first step ran inside the websocket reader's task, so the timeout scope it
    # opened there belonged to the reader: it cancelled the reader (the connection dropped) and never the sleep.
    bus = make_bus(fast=True)

    @bus.on(FaDeadline)
    async def deadline(ctx: Context, msg: FaDeadline) -> FaAck:
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            return FaAck(seq=msg.seq, text="gave up")
        return FaAck(seq=msg.seq, text="slept")

    async with serving(bus.asgi_app()) as url:
        client = await WsClient.connect(url)
        try:
            for seq in range(3):
                await client.send(f'42{seq}["fa_deadline",{{"seq":{seq}}}]')
                [ack] = [f for f in await frames_until_acks(client, {str(seq)}) if isinstance(f, str) and ACK.match(f)]
                assert ack == f'43{seq}[{{"ok":true,"data":{{"seq":{seq},"text":"gave up"}}}}]'
            assert answered(bus) == 3  # the fast path ran them, and the connection outlived each timeout
        finally:
            await client.close()


# How a handler's task starts, on the interpreter running the tests: eager on 3.12+ (``make test-py313`` runs these
# under 3.13), a plain task on 3.11. The same assertions hold for both but where the version says otherwise.


def fast_acks() -> FastAcks:
    return FastAcks(socketio.AsyncServer(async_mode="asgi"))


async def test_a_handler_runs_in_its_own_task_started_at_once_on_3_12() -> None:
    fast = fast_acks()
    ran_in: list[asyncio.Task[Any] | None] = []

    async def handler() -> None:
        ran_in.append(asyncio.current_task())

    fast._start(handler())

    # Eager: the handler finished before _start returned, without a loop turn, and nothing is left to track.
    assert len(ran_in) == (1 if EAGER else 0)
    assert len(fast._tasks) == (0 if EAGER else 1)
    await asyncio.sleep(0)
    assert len(ran_in) == 1
    await asyncio.sleep(0)  # the plain task's done callback
    assert ran_in[0] is not None
    assert ran_in[0] is not asyncio.current_task()  # never the caller's (the websocket reader's) task
    assert fast._tasks == set()


async def test_handlers_still_running_at_shutdown_are_cancelled() -> None:
    fast = fast_acks()
    cancelled: list[int] = []

    async def handler(n: int) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    for n in range(3):
        fast._start(handler(n))
    await asyncio.sleep(0)
    assert len(fast._tasks) == 3

    await fast.stop()

    assert sorted(cancelled) == [0, 1, 2]
    assert fast._tasks == set()


@pytest.mark.parametrize("suspends", [False, True])
async def test_a_handler_that_fails_is_logged_whether_it_finished_at_once_or_later(
    suspends: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fast = fast_acks()

    async def handler() -> None:
        if suspends:
            await asyncio.sleep(0)
        raise RuntimeError("on purpose")

    fast._start(handler())
    for _ in range(3):
        await asyncio.sleep(0)

    [failure] = [r for r in caplog.records if r.name == "eventbus.transport.fastacks"]
    assert failure.getMessage() == "a client event handler failed outside its own error handling"
    assert failure.exc_info is not None
    assert str(failure.exc_info[1]) == "on purpose"
    assert fast._tasks == set()
