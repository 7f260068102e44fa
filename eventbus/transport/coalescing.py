"""Write coalescing: broadcasts that come while a batch is being written go out together, one wake-up per writer.

Every websocket connection has a writer task (python-engineio's) that sleeps on
the socket's queue, wakes for whatever is queued, sends it and sleeps again. A
wake-up takes three turns of the event loop on Python 3.11 (``asyncio.wait_for``
wraps the queue's get in a task) and costs more than sending the frame does.
When broadcasts come one per loop turn, as they do when each one awaits a Redis
publish or arrives on its own from Redis, every writer wakes once per message:
in the benchmark that halved the Redis path's throughput.

`WriteCoalescer` works like Nagle's algorithm, counting loop turns instead of
waiting for an acknowledgement:

* idle, a broadcast's packets are queued at once, and whatever else is queued
  in the same loop turn joins them: one batch;
* for the next ``turns`` turns of the event loop, new packets are held per
  socket; then everything held is queued as the next batch, which holds the
  packets of the ``turns`` turns after it, and so on until a batch holds nothing.

An idle server therefore sends a broadcast without delay. A busy one sends fewer,
bigger batches: a message waits at most ``turns`` loop turns, which are a few
microseconds each when the loop has nothing else to do and longer when it has,
so the batches grow with the load. Counting turns rather than time is what makes
that work: a broadcast that awaits a Redis round trip gets one step per turn
however long the turn takes. The price is that the loop turns ``turns`` times
after each batch even with nothing else to do (tens of microseconds of CPU).

Only websocket connections are held: a long-polling client takes its packets
when its next request comes, so holding would only add latency. Each socket's
packets keep their order, and `WriteCoalescer.release` queues a socket's held
packets before anything reaches it another way (acks, disconnects). Held bytes
count against the connection's ``EVENTBUS_MAX_QUEUE_BYTES`` (`SendQueue.hold`).
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any

from eventbus.transport.outbound import SendQueue, packets_size

if TYPE_CHECKING:
    from eventbus.transport.frames import FrameWriter

__all__ = ["WriteCoalescer", "queue_packets"]


class _Phase(enum.Enum):
    IDLE = "idle"
    OPEN = "open"  # a batch is being queued during this loop turn
    HOLDING = "holding"  # packets wait for the next batch


class WriteCoalescer:
    """Queues packets on engine.io sockets, holding those that come within ``turns`` loop turns of the last batch.

    A socket is a python-engineio ``AsyncSocket`` (``queue``, ``closed``,
    ``upgraded``); packets are engine.io packets, queued as python-engineio's
    ``send`` would.

    Example:
        >>> coalescer = WriteCoalescer(turns=64)
        >>> coalescer
        WriteCoalescer(turns=64, phase=idle, holding=0)
        >>> class Socket:  # what the coalescer uses of an AsyncSocket
        ...     def __init__(self) -> None:
        ...         self.upgraded, self.closed, self.queue = True, False, asyncio.Queue()
        >>> async def main() -> None:
        ...     socket = Socket()
        ...     coalescer.put(socket, ["first"])  # queued now: a batch opens for this loop turn
        ...     await asyncio.sleep(0)  # the next turn: packets are held for the next batch
        ...     coalescer.put(socket, ["second"])
        ...     print(socket.queue.qsize(), coalescer.holding)
        ...     coalescer.release(socket)  # before sending to this socket in any other way
        ...     print(socket.queue.qsize(), coalescer.holding)
        >>> asyncio.run(main())
        1 1
        2 0
    """

    def __init__(self, turns: int, writer: FrameWriter | None = None) -> None:
        if turns < 1:
            raise ValueError(
                f"turns must be at least 1 (got {turns!r}); to send every packet at once, use no coalescer"
            )
        self.turns = turns
        self.writer = writer
        """Writes the frames of idle websockets (`FrameWriter`); ``None``: every packet is queued."""
        self._phase = _Phase.IDLE
        self._turn = 0
        self._held: dict[Any, _Held] = {}

    def __repr__(self) -> str:
        return f"WriteCoalescer(turns={self.turns}, phase={self._phase.value}, holding={self.holding})"

    @property
    def holding(self) -> int:
        """How many sockets have packets held."""
        return len(self._held)

    def put(self, socket: Any, packets: list[Any], size: int | None = None) -> None:
        """Queue ``packets`` on ``socket`` now, or hold them for the next batch.

        ``size`` is `packets_size` of ``packets``, when the caller has it: a broadcast's is the same for every
        recipient, so `FastEmitManager` counts it once rather than once per recipient.
        """
        if not socket.upgraded:
            queue_packets(socket, packets, self.writer)
            return
        if self._phase is _Phase.IDLE:
            self._open()
        if self._phase is _Phase.OPEN:
            queue_packets(socket, packets, self.writer)
            return
        queue = socket.queue
        if isinstance(queue, SendQueue):
            size = packets_size(packets) if size is None else size
            if not queue.hold(size):
                return  # over the connection's bound: it is being dropped, and so are these packets
        else:
            size = 0  # nothing counts its bytes
        held = self._held.get(socket)
        if held is None:
            self._held[socket] = _Held(list(packets), size)
        else:
            held.packets += packets
            held.size += size

    def release(self, socket: Any) -> None:
        """Queue ``socket``'s held packets now: call it before sending to ``socket`` in any other way."""
        held = self._held.pop(socket, None)
        if held is not None:
            _queue_held(socket, held, self.writer)

    def _open(self) -> None:
        self._phase = _Phase.OPEN
        self._turn = 0
        # A callback scheduled now runs at the next loop turn: everything queued before then is this batch.
        asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._phase = _Phase.HOLDING
        self._turn += 1
        if self._turn < self.turns:
            asyncio.get_running_loop().call_soon(self._next_turn)
            return
        held, self._held = self._held, {}
        if not held:
            self._phase = _Phase.IDLE
            return
        self._open()
        for socket, socket_held in held.items():
            _queue_held(socket, socket_held, self.writer)


class _Held:
    """A socket's held packets and their `packets_size`, counted as they come (what `SendQueue.hold` was told)."""

    __slots__ = ("packets", "size")

    def __init__(self, packets: list[Any], size: int) -> None:
        self.packets = packets
        self.size = size


def _queue_held(socket: Any, held: _Held, writer: FrameWriter | None) -> None:
    queue = socket.queue
    if isinstance(queue, SendQueue):
        queue.unhold(held.size)
    queue_packets(socket, held.packets, writer)


def queue_packets(socket: Any, packets: list[Any], writer: FrameWriter | None = None) -> None:
    """Put ``packets`` in ``socket``'s queue, where its writer (or its next long-poll) takes them.

    With a ``writer``, an idle websocket's frames are written by it instead, and its engine.io writer stays asleep.
    """
    if socket.closed:
        return  # as python-engineio's own send: nothing is queued on a closed socket
    if writer is not None and writer.write(socket, packets):
        return
    # engine.io's queues are unbounded (``create_queue()`` passes no maxsize): put_nowait never raises.
    for packet in packets:
        socket.queue.put_nowait(packet)
