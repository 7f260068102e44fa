"""`SendQueue`: the byte count behind ``EVENTBUS_MAX_QUEUE_BYTES`` and when a backlog counts as a slow consumer."""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet

from eventbus.transport.outbound import SendQueue, packet_size


class Stall:
    """Stands in for `TimedWebSocket`: only ``blocked`` is read."""

    blocked = True


def message(size: int) -> Any:
    return eio_packet.Packet(eio_packet.MESSAGE, "x" * size)


def queue(limit: int = 1000) -> tuple[SendQueue, list[SendQueue]]:
    overflowed: list[SendQueue] = []
    return SendQueue(limit, overflowed.append), overflowed


async def test_bytes_are_counted_in_and_out() -> None:
    q, overflowed = queue()
    q.websocket = Stall()  # type: ignore[assignment]
    q.put_nowait(message(99))
    q.put_nowait(None)  # engine.io's wake-up for its writer costs nothing
    assert q.queued_bytes == packet_size(message(99)) == 100
    assert q.get_nowait().data == "x" * 99
    assert q.queued_bytes == 0
    assert overflowed == []


async def test_a_backlog_overflows_only_while_its_consumer_is_stalled() -> None:
    q, overflowed = queue()
    stall = Stall()
    stall.blocked = False
    q.websocket = stall  # type: ignore[assignment]
    for _ in range(30):  # a burst before the writer ran: not slowness
        q.put_nowait(message(99))
    assert overflowed == []
    stall.blocked = True
    q.put_nowait(message(99))
    assert overflowed == [q]


async def test_one_message_larger_than_the_bound_goes_out_when_nothing_waits() -> None:
    q, overflowed = queue()
    q.websocket = Stall()  # type: ignore[assignment]
    q.put_nowait(message(5000))
    assert overflowed == []
    q.put_nowait(message(1))
    assert overflowed == [q]


async def test_long_polling_counts_as_stalled_when_no_poll_is_waiting() -> None:
    q, _ = queue()
    assert q.stalled
    q.consumers = 1  # a GET is waiting in get()
    assert not q.stalled


async def test_a_drained_queue_is_sealed_and_held_bytes_count() -> None:
    q, overflowed = queue()
    q.websocket = Stall()  # type: ignore[assignment]
    q.put_nowait(message(500))
    assert q.hold(400)
    assert q.total_bytes == 901
    assert not q.hold(200)  # over the bound while stalled: refused, and the connection overflows
    assert overflowed == [q]
    q.drain()
    assert q.empty()
    assert q.total_bytes == 0
    q.put_nowait(message(10))
    assert q.empty()  # sealed: dropped
    q.put_final([message(10), None])
    assert q.qsize() == 2
