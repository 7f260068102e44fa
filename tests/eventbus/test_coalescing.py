"""`WriteCoalescer` on its own: what is queued when, on stand-in sockets and a real event loop.

The sockets here only have what the coalescer touches (a queue, ``closed``,
``upgraded``); the over-the-wire behaviour, with python-engineio's writers, is in
``test_fastpath.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from engineio import packet as eio_packet
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.transport.coalescing import WriteCoalescer
from eventbus.transport.fastpath import COALESCE_TURNS, FastEmitManager, FastRedisManager
from eventbus.transport.managers import client_manager
from eventbus.transport.outbound import SendQueue, packets_size

TURNS = 4


@dataclass(eq=False)
class StandInSocket:
    """What `WriteCoalescer` reads of a python-engineio socket; ``taken()`` is what its writer would send."""

    upgraded: bool = True
    closed: bool = False
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def taken(self) -> list[str]:
        packets = []
        while not self.queue.empty():
            packets.append(self.queue.get_nowait())
        return packets


async def turns(count: int) -> None:
    """Let the event loop turn ``count`` times (each ``sleep(0)`` resumes at the next turn)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def batch_then_hold(coalescer: WriteCoalescer, opener: StandInSocket, *held: StandInSocket) -> None:
    """Queue "1" on ``opener`` (a batch), let a turn pass, then put "2" on each of ``held``: held, all of them."""
    coalescer.put(opener, ["1"])
    await turns(1)
    for socket in held:
        coalescer.put(socket, ["2"])


async def test_idle_packets_are_queued_at_once_and_the_same_turn_joins_them() -> None:
    coalescer = WriteCoalescer(TURNS)
    a, b = StandInSocket(), StandInSocket()

    coalescer.put(a, ["1"])
    coalescer.put(b, ["1"])
    coalescer.put(a, ["2"])

    assert (a.taken(), b.taken(), coalescer.holding) == (["1", "2"], ["1"], 0)


async def test_packets_after_a_batch_are_held_then_go_out_together_in_order() -> None:
    coalescer = WriteCoalescer(TURNS)
    a, b = StandInSocket(), StandInSocket()
    coalescer.put(a, ["1"])
    assert a.taken() == ["1"]

    await turns(1)
    coalescer.put(a, ["2"])
    coalescer.put(b, ["2"])
    await turns(1)
    coalescer.put(a, ["3", "4"])

    assert (a.taken(), b.taken(), coalescer.holding) == ([], [], 2)
    await turns(TURNS)
    assert (a.taken(), b.taken(), coalescer.holding) == (["2", "3", "4"], ["2"], 0)


async def test_a_quiet_hold_ends_and_the_next_packet_goes_out_at_once() -> None:
    coalescer = WriteCoalescer(TURNS)
    socket = StandInSocket()
    coalescer.put(socket, ["1"])
    await turns(TURNS + 1)

    coalescer.put(socket, ["2"])

    assert socket.taken() == ["1", "2"]
    assert "phase=open" in repr(coalescer)


async def test_long_polling_sockets_are_never_held() -> None:
    coalescer = WriteCoalescer(TURNS)
    websocket, polling = StandInSocket(), StandInSocket(upgraded=False)
    coalescer.put(websocket, ["1"])
    await turns(1)

    coalescer.put(polling, ["2"])
    coalescer.put(websocket, ["2"])

    assert (polling.taken(), websocket.taken()) == (["2"], ["1"])


async def test_release_queues_one_sockets_held_packets_and_leaves_the_others_held() -> None:
    coalescer = WriteCoalescer(TURNS)
    a, b = StandInSocket(), StandInSocket()
    await batch_then_hold(coalescer, a, a, b)

    coalescer.release(a)
    a.queue.put_nowait("ack")  # what a direct send does right after

    assert (a.taken(), b.taken(), coalescer.holding) == (["1", "2", "ack"], [], 1)
    await turns(TURNS)
    assert (a.taken(), b.taken()) == ([], ["2"])


async def test_held_packets_of_a_socket_closed_meanwhile_are_dropped() -> None:
    coalescer = WriteCoalescer(TURNS)
    closing, staying = StandInSocket(), StandInSocket()
    await batch_then_hold(coalescer, staying, closing, staying)

    closing.closed = True
    await turns(TURNS)

    assert (closing.taken(), staying.taken()) == ([], ["1", "2"])


def test_turns_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WriteCoalescer(0)


SOCKETS = 3
steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, SOCKETS - 1), st.integers(1, 3)),
        st.tuples(st.just("release"), st.integers(0, SOCKETS - 1), st.just(0)),
        st.tuples(st.just("turn"), st.just(0), st.integers(1, TURNS + 2)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(schedule=steps, upgraded=st.lists(st.booleans(), min_size=SOCKETS, max_size=SOCKETS))
def test_every_packet_arrives_once_in_order_and_within_turns_plus_one(
    schedule: list[tuple[str, int, int]], upgraded: list[bool]
) -> None:
    """Any mix of puts, releases and loop turns: per socket, the queue is exactly the puts in order, none late."""

    async def run() -> None:
        coalescer = WriteCoalescer(TURNS)
        sockets = [StandInSocket(upgraded=flag) for flag in upgraded]
        sent: list[list[str]] = [[] for _ in sockets]
        received: list[list[str]] = [[] for _ in sockets]
        put_at: dict[str, int] = {}
        now = 0

        def take_all() -> None:
            for index, socket in enumerate(sockets):
                received[index] += socket.taken()

        for kind, index, count in schedule:
            if kind == "put":
                packets = [f"{index}.{len(sent[index]) + n}" for n in range(count)]
                sent[index] += packets
                put_at.update(dict.fromkeys(packets, now))
                coalescer.put(sockets[index], packets)
            elif kind == "release":
                coalescer.release(sockets[index])
            else:
                for _ in range(count):
                    await turns(1)
                    now += 1
                    take_all()
                    overdue = [p for i in range(SOCKETS) for p in sent[i] if p not in received[i]]
                    assert all(now - put_at[p] <= TURNS + 1 for p in overdue), (now, overdue, put_at)
        await turns(2 * TURNS + 2)
        take_all()
        assert received == sent
        assert coalescer.holding == 0

    asyncio.run(run())


@dataclass(eq=False)
class Reading:
    """Stands in for `TimedWebSocket` while the client reads: a backlog is never a slow consumer."""

    blocked: bool = False


@settings(max_examples=100, deadline=None)
@given(
    schedule=steps,
    lengths=st.lists(st.integers(0, 300), min_size=1, max_size=4),
    sized_by_caller=st.booleans(),
)
def test_held_bytes_are_those_of_the_held_packets_and_all_are_given_back(
    schedule: list[tuple[str, int, int]], lengths: list[int], sized_by_caller: bool
) -> None:
    """`SendQueue.held_bytes` is the size of what is held for that socket after every step, 0 once all is queued.

    Whether the caller passes a broadcast's size (as `FastEmitManager` does, once for every recipient) or the
    coalescer counts it: the slow-consumer bound sees the same bytes, and none is left counted after a release.
    """

    async def run() -> None:
        coalescer = WriteCoalescer(TURNS)
        queues = [SendQueue(1 << 30, lambda queue: None) for _ in range(SOCKETS)]
        for queue in queues:
            queue.websocket = Reading()  # type: ignore[assignment]
        sockets = [StandInSocket(queue=queue) for queue in queues]
        held: list[list[eio_packet.Packet]] = [[] for _ in sockets]
        for kind, index, count in schedule:
            if kind == "put":
                packets = [eio_packet.Packet(eio_packet.MESSAGE, "x" * lengths[n % len(lengths)]) for n in range(count)]
                before = queues[index].qsize()
                coalescer.put(sockets[index], packets, packets_size(packets) if sized_by_caller else None)
                if queues[index].qsize() == before:
                    held[index] += packets
            elif kind == "release":
                coalescer.release(sockets[index])
                held[index] = []
            else:
                await turns(count)
                if coalescer.holding == 0:
                    held = [[] for _ in sockets]
            for index, queue in enumerate(queues):
                assert queue.held_bytes == packets_size(held[index])
                assert queue.total_bytes == packets_size(held[index]) + queue.queued_bytes
        await turns(2 * TURNS + 2)
        assert coalescer.holding == 0
        assert [queue.held_bytes for queue in queues] == [0] * SOCKETS

    asyncio.run(run())


def test_coalescing_is_on_by_default_with_redis_only_and_the_setting_applies_to_both() -> None:
    redis_url = "redis://127.0.0.1:1/0"  # never contacted: managers connect when started
    in_memory, on_redis = client_manager(None, channel="c"), client_manager(redis_url, channel="c")
    assert isinstance(in_memory, FastEmitManager)
    assert isinstance(on_redis, FastRedisManager)
    assert (in_memory.coalescer, on_redis.coalescer) == (None, on_redis.coalescer)
    assert on_redis.coalescer is not None
    assert on_redis.coalescer.turns == COALESCE_TURNS == 64

    for url in (None, redis_url):
        manager = client_manager(url, channel="c", coalesce_turns=8)
        assert isinstance(manager, FastEmitManager)
        assert manager.coalescer is not None
        assert manager.coalescer.turns == 8
        off = client_manager(url, channel="c", coalesce_turns=0)
        assert isinstance(off, FastEmitManager)
        assert off.coalescer is None
