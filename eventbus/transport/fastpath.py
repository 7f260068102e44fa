"""A client manager whose ``emit`` hands one pre-encoded packet to each recipient's queue, with no task per recipient.

python-socketio's ``AsyncManager.emit`` encodes a broadcast once, then creates one
``asyncio`` task per recipient (``server._send_eio_packet``) and waits for all of
them with ``asyncio.wait``. Each task only does ``await socket.queue.put(pkt)``
on an unbounded queue, which never suspends, so at 1,000 recipients the cost of
a broadcast is mostly creating, scheduling and collecting 1,000 tasks (see the
profile in docs/internals/fast-path.md). `FastEmitManager` does the same puts
synchronously with ``put_nowait``: the bytes on the wire, the recipients
(python-socketio's own ``get_participants``: several rooms, each socket once)
and ``skip_sid`` are unchanged. A run of broadcasts lets the socket writers run
once per `FastEmitManager.yield_every` queued packets rather than after every
call, and broadcasts that come one per loop turn (each awaiting a Redis publish,
or arriving from Redis) are gathered into batches by `WriteCoalescer`
(``eventbus.transport.coalescing``), so each writer wake-up sends several packets.

Everything that is not a plain broadcast to healthy sockets takes python-socketio's
own code, so its behavior is kept rather than re-implemented:

* an emit with a ``callback`` (each recipient needs its own ack id);
* a recipient whose engine.io socket is gone, closed, or overdue on its ping
  (``AsyncSocket.send`` closes such a socket; python-socketio logs the rest);
* an engine.io logger at INFO, which logs every packet sent.

Packets python-socketio sends by itself (acks, connects, disconnects, emits with
a callback) reach a socket through ``server.eio.send_packet``; `FastEmitManager.initialize`
wraps that method of its own server so that the socket's held broadcasts go first,
and every client gets its packets in the order they were sent.

Works for both receive paths: in memory, and ``AsyncPubSubManager._handle_emit``
(Redis, `RedisManager`), whose ``super().emit`` reaches this class when it comes
after the pub/sub manager in the method resolution order, as in `FastRedisManager`.

One difference, deliberate: a binary message gets its own engine.io packets per
recipient. python-engineio caches a packet's first encoding (raw bytes for a
websocket, base64 for long-polling), so the packets python-socketio shares fail
for polling clients in a room that also holds websocket ones.

Written against python-socketio 5.16-5.18 and python-engineio 4.12-4.15 (``socket.queue``,
``socket.last_ping``, ``socket.closed``, ``socket.upgraded``, ``server.eio.sockets``,
``server.eio.send_packet``); ``pyproject.toml`` pins
that range and ``tests/eventbus/test_fastpath.py`` compares the bytes on the wire with
the normal path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from eventbus.observability import tracing
from eventbus.observability.recorder import NO_RECORDER, Recorder
from eventbus.transport.coalescing import WriteCoalescer, queue_packets
from eventbus.transport.frames import FramedPacket, FrameWriter
from eventbus.transport.outbound import packets_size
from eventbus.transport.redis_manager import RedisManager

__all__ = ["COALESCE_TURNS", "FastEmitManager", "FastRedisManager"]

COALESCE_TURNS = 64
"""`FastRedisManager`'s default: loop turns after a batch during which further broadcasts are held (`WriteCoalescer`).

In memory the default is 0: a run of broadcasts is already batched by
`FastEmitManager.yield_every`, and with coalescing on, the benchmark's paced
latency after heavy bursts measured worse (p99 about 250 ms against 90 ms,
cause not found), so it is left to ``EVENTBUS_COALESCE_TURNS``.
"""


def _packets(parts: list[str | bytes]) -> list[Any]:
    # Text packets carry their websocket frame, built once for every idle recipient (`frames.FrameWriter`).
    return [
        FramedPacket(part) if isinstance(part, str) else eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts
    ]


class FastEmitManager(socketio.AsyncManager):  # type: ignore[misc]  # python-socketio ships no type hints
    """python-socketio's in-memory manager, with a broadcast that queues packets without a task per recipient."""

    yield_every = 4096
    """Packets a run of broadcasts may queue before it lets the socket writers run (a few milliseconds of work).

    python-socketio's own emit suspends on every call. Pausing on every broadcast
    wakes each recipient's writer once per packet, and in the benchmark that
    halves the fast path's throughput; never pausing would let a loop of
    broadcasts hold the event loop for as long as it runs.
    """

    _unflushed = 0
    _reset_scheduled = False
    coalescer: WriteCoalescer | None = None
    recorder: Recorder = NO_RECORDER
    """Counts deliveries, once per broadcast with its recipient count; the bus sets its own when metrics are on."""
    default_coalesce_turns = 0
    """`set_coalescing` at construction: off in memory (see `COALESCE_TURNS`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frame_writer = FrameWriter()
        """Writes the frames of idle websocket recipients, one write per connection per loop turn."""
        self.set_coalescing(self.default_coalesce_turns)

    def set_coalescing(self, turns: int) -> None:
        """Hold broadcasts that come within ``turns`` loop turns of the previous batch (`WriteCoalescer`); 0: never."""
        self.coalescer = WriteCoalescer(turns, self.frame_writer) if turns > 0 else None

    def initialize(self) -> None:
        super().initialize()
        eio = self.server.eio
        if getattr(eio.send_packet, "releases_held", False):
            return  # initialized again after a stop: already in place
        send_packet = eio.send_packet

        async def send_packet_after_held(sid: str, pkt: Any) -> None:
            # Every packet python-socketio sends itself (acks, connects, disconnects, emits with a callback)
            # comes through here: the socket's held broadcasts go into its queue first, so the order is kept.
            socket = eio.sockets.get(sid)
            if socket is not None:
                coalescer = self.coalescer
                if coalescer is not None and coalescer.holding:
                    coalescer.release(socket)
                self.frame_writer.flush(socket)
            await send_packet(sid, pkt)

        send_packet_after_held.releases_held = True  # type: ignore[attr-defined]
        eio.send_packet = send_packet_after_held

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """Send ``event`` once to every socket in ``room`` (a name, a list of names, or ``None`` for all)."""
        room = to or room
        if callback is not None or namespace not in self.rooms or self.server.eio.logger.isEnabledFor(logging.INFO):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
            return
        parts = self._encode_parts(event, data, namespace)
        packets = _packets(parts)
        # An engine.io packet caches its first encoding: raw bytes for a websocket, base64 text for long-polling.
        # Shared between both, the second one gets the wrong form (python-engineio 4.15 raises TypeError in the
        # polling payload), so binary packets are made per recipient; text ones are the same on both.
        binary = any(isinstance(part, bytes) for part in parts)
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        eio = self.server.eio
        sockets = eio.sockets
        overdue = time.time() - eio.ping_timeout
        slow: list[str] = []
        queued = 0
        coalescer = self.coalescer
        size = packets_size(packets)
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed or (socket.last_ping and socket.last_ping < overdue):
                slow.append(eio_sid)
                continue
            recipient_packets = _packets(parts) if binary else packets
            if coalescer is None:
                queue_packets(socket, recipient_packets, self.frame_writer)
            else:
                coalescer.put(socket, recipient_packets, size)
            queued += 1
        recipients = queued + len(slow)
        self.recorder.delivered(namespace, event, recipients)
        tracing.add_to_attribute("eventbus.recipients", recipients)
        for eio_sid in slow:
            for pkt in _packets(parts) if binary else packets:
                await self.server._send_eio_packet(eio_sid, pkt)
        await self._pause_if_busy(len(packets) * queued)

    async def _pause_if_busy(self, queued: int) -> None:
        # Packets queued since the event loop last ran its ready callbacks: the call_soon below resets the count
        # as soon as anything lets the loop turn (the caller's own awaits included), so only a tight loop of
        # broadcasts ever pauses here, and then once per ``yield_every`` packets.
        self._unflushed += queued
        if not self._reset_scheduled:
            self._reset_scheduled = True
            asyncio.get_running_loop().call_soon(self._loop_turned)
        if self._unflushed >= self.yield_every:
            await asyncio.sleep(0)

    def _loop_turned(self) -> None:
        self._unflushed = 0
        self._reset_scheduled = False

    def _encode_parts(self, event: str, data: Any, namespace: str) -> list[str | bytes]:
        # As AsyncManager.emit: a tuple is several arguments, None is none; binary data gives several parts.
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        return encoded if isinstance(encoded, list) else [encoded]


# mypy compares the two emit() signatures; both accept python-socketio's calls (RedisManager's takes **kwargs).
class FastRedisManager(RedisManager, FastEmitManager):  # type: ignore[misc]
    """`RedisManager` whose local delivery (of its own broadcasts and of other processes') is `FastEmitManager`'s.

    The order of the bases matters: `RedisManager.emit` publishes, then
    ``AsyncPubSubManager._handle_emit`` calls ``super().emit``, which must land
    on `FastEmitManager.emit` (after the pub/sub manager in the MRO), not the
    other way round.
    """

    default_coalesce_turns = COALESCE_TURNS
