"""Websocket frames built once per broadcast and written straight to each idle recipient's TCP transport.

A broadcast's engine.io packet normally reaches a websocket client through the
connection's writer task (python-engineio's): the packet is queued, the writer
wakes (three loop turns on Python 3.11: ``asyncio.wait_for`` wraps the queue's
get in a task), hands the text to the ASGI ``send`` of the server's websocket
implementation, which frames it and writes it to the transport. Under a paced
load each wake-up carries one packet, and the profile of the benchmark's paced
phase (docs/performance.md) spends most of its time in that wake-up rather than
in the write: a paced delivery cost about four times a burst one, and the last
recipients of a broadcast to 1,000 clients waited for 999 wake-ups.

Server-to-client frames are not masked, and without permessage-deflate (off in
`eventbus.serving.uvicorn_options`) a frame's bytes are the same for every
recipient: `FramedPacket` builds them once, and `FrameWriter` writes them to a
recipient's transport itself, the way the websocket implementation would, when
nothing can be between them (all of a connection's frames of one loop turn in
one write: the ``send`` system call was then half of a burst's CPU):

* the connection is a websocket (upgraded, not upgrading) whose writer is idle,
  waiting on an empty queue (`SendQueue.consumers`): no packet queued earlier,
  none taken by the writer and not yet written;
* the transport has nothing buffered: a client that stops reading is left to the
  normal path, where `SendQueue` bounds what waits for it and the write timeout
  applies; one turn's frames for a connection are written as soon as they pass
  that bound, so the transport never holds more than the bound and one message;
* the websocket implementation is one of uvicorn's three, its connection is open
  (no close frame sent or received) and it negotiated no extension.

Anything else takes the queue, as before. Packets queued later (acks, pings,
disconnects) go after the bytes already written, so each connection's order is kept.

Internals used (uvicorn 0.54): the ASGI ``send`` of a websocket connection is a
bound method of its protocol object, whose ``transport``, ``config.ws_per_message_deflate``
and per-implementation state are read: ``WebSocketsSansIOProtocol`` (``handshake_complete``,
``close_sent``, ``initial_response``, ``conn.state``), ``WSProtocol`` (``close_sent``,
``response_started``, ``conn.state``), ``WebSocketProtocol`` (``state``, ``closed_event``,
``initial_response``); python-engineio's ``AsyncSocket.upgraded``/``upgrading`` and
``Packet.encode``.
"""

from __future__ import annotations

import asyncio
import struct
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet

from eventbus.transport.outbound import SendQueue, TimedWebSocket

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FrameWriter", "FramedPacket", "text_frame"]

_TEXT_FIN = 0x81  # FIN + opcode 1 (text); RSV bits clear: no extension


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented websocket text frame (RFC 6455 5.2): what a server sends for ``payload``.

    Example:
        >>> text_frame(b"42[\\"hi\\"]")
        b'\\x81\\x0842["hi"]'
        >>> text_frame(b"x" * 200)[:4]
        b'\\x81~\\x00\\xc8'
    """
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", _TEXT_FIN, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return header + payload


class FramedPacket(eio_packet.Packet):  # type: ignore[misc]  # python-engineio ships no type hints
    """An engine.io MESSAGE packet with text data whose websocket frame is built once, for every recipient.

    Example:
        >>> pkt = FramedPacket('2["notice",{"text":"hi"}]')
        >>> pkt.encode()
        '42["notice",{"text":"hi"}]'
        >>> pkt.frame
        b'\\x81\\x1a42["notice",{"text":"hi"}]'
    """

    def __init__(self, data: str) -> None:
        super().__init__(eio_packet.MESSAGE, data)

    @cached_property
    def frame(self) -> bytes:
        """The websocket frame of this packet, built from python-engineio's own encoding."""
        return text_frame(self.encode().encode())


class FrameWriter:
    """Writes frames to idle websockets at the end of the loop turn: a connection's frames of one turn, one write.

    A run of broadcasts in one loop turn (up to `FastEmitManager.yield_every`
    packets) then costs each recipient one ``send`` system call, not one per
    broadcast: that call was half the server's CPU in a burst. A paced broadcast
    is alone in its turn and goes out as soon as the loop has put it on every
    recipient's list. Anything else sent to a connection must call `flush` for it
    first (`FastEmitManager` does for every packet python-socketio sends).

    Example:
        >>> writer = FrameWriter()
        >>> class Socket:  # not a websocket engine.io can be written around: the packets are left to its queue
        ...     queue = None
        >>> writer.write(Socket(), [FramedPacket('2["notice",{"text":"hi"}]')])
        False
    """

    def __init__(self) -> None:
        self._turn: dict[Any, tuple[Any, Any, list[bytes]]] = {}
        """socket -> (websocket, transport, frames) to write when the loop turns."""
        self._sizes: dict[Any, int] = {}
        """socket -> bytes of its frames in `_turn`."""
        self.sent = 0
        """Packets `send` took with a turn's frames rather than queued (the tests check which path ran)."""

    def write(self, socket: Any, packets: list[Any]) -> bool:
        """Take ``packets`` for ``socket`` if nothing can come between (see the module docs); ``False``: queue them.

        ``socket`` is a python-engineio ``AsyncSocket`` whose queue is a `SendQueue`.
        """
        # One pass for the check and the frames: this runs per recipient, over each socket's held packets.
        added = [pkt.frame for pkt in packets if isinstance(pkt, FramedPacket)]
        framed = len(added) == len(packets)
        pending = self._turn.get(socket)
        if pending is None:
            idle = _idle_websocket(socket) if framed else None
            if idle is None:
                return False
            if not self._turn:
                asyncio.get_running_loop().call_soon(self.flush_all)
            pending = self._turn[socket] = (*idle, [])
        elif not framed:
            self.flush(socket)
            return False
        pending[2].extend(added)
        size = self._sizes[socket] = self._sizes.get(socket, 0) + sum(map(len, added))
        # A turn's frames bypass `SendQueue`'s bound: past it, write them now, so the transport holds at most the
        # bound (plus one message) and what follows waits in the queue, which counts it (the transport is no
        # longer empty), for a client that is not reading.
        if size > socket.queue.limit:
            self.flush(socket)
        return True

    def send(self, socket: Any, data: str) -> None:
        """Send the Socket.IO packet ``data`` to ``socket``: with its frames of this turn when `write` may, else queued.

        The fast path's acks come this way (`FastAcks`): an ack of a loop turn costs
        its connection no writer wake-up and no pass through the websocket
        implementation's ``send``, and goes out after what the turn sent before it.
        """
        packet = FramedPacket(data)
        if self.write(socket, [packet]):
            self.sent += 1
        else:
            socket.queue.put_nowait(packet)

    def flush(self, socket: Any) -> None:
        """Write ``socket``'s frames of this turn now: call it before sending to ``socket`` in any other way."""
        pending = self._turn.pop(socket, None)
        self._sizes.pop(socket, None)
        if pending is not None:
            _write(*pending)

    def flush_all(self) -> None:
        """Write every connection's frames of this turn (scheduled by `write` for the end of the turn)."""
        turn, self._turn = self._turn, {}
        self._sizes.clear()
        for pending in turn.values():
            _write(*pending)


def _idle_websocket(socket: Any) -> tuple[TimedWebSocket, Any] | None:
    """``socket``'s websocket and transport if its frames may go around engine.io's writer now (module docs)."""
    queue = socket.queue
    if not isinstance(queue, SendQueue) or queue.sealed or queue.qsize() or not queue.consumers:
        return None
    websocket = queue.websocket
    if websocket is None or websocket.blocked or not socket.upgraded or socket.upgrading:
        return None
    protocol = getattr(websocket.asgi_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None or transport.is_closing() or transport.get_write_buffer_size():
        return None
    return (websocket, transport) if _plain_frames_open(protocol) else None


def _write(websocket: TimedWebSocket, transport: Any, frames: list[bytes]) -> None:
    if frames and not transport.is_closing():
        transport.write(b"".join(frames))
        websocket.writes += 1


def _plain_frames_open(protocol: Any) -> bool:
    """Whether ``protocol`` (one of uvicorn's websocket implementations) is open and frames without extensions."""
    config = getattr(protocol, "config", None)
    if config is None or config.ws_per_message_deflate:
        return False
    is_open = _OPEN.get(type(protocol).__name__)
    try:
        return is_open is not None and is_open(protocol)
    except AttributeError:  # a uvicorn whose protocol changed shape: its own send path still works
        return False


def _is_open_state(state: Any) -> bool:
    # websockets' ``State.OPEN`` and wsproto's ``ConnectionState.OPEN``, by name: wsproto is an optional install.
    return getattr(state, "name", None) == "OPEN"


def _sansio_open(protocol: Any) -> bool:
    return bool(
        protocol.handshake_complete
        and not protocol.close_sent
        and protocol.initial_response is None
        and _is_open_state(protocol.conn.state)
    )


def _wsproto_open(protocol: Any) -> bool:
    return bool(not protocol.close_sent and not protocol.response_started and _is_open_state(protocol.conn.state))


def _legacy_open(protocol: Any) -> bool:
    return bool(
        _is_open_state(protocol.state)
        and not protocol.closed_event.is_set()
        and getattr(protocol, "initial_response", None) is None  # set only once the handshake is answered
    )


_OPEN: dict[str, Callable[[Any], bool]] = {
    "WebSocketsSansIOProtocol": _sansio_open,  # uvicorn --ws websockets-sansio (the default with websockets)
    "WSProtocol": _wsproto_open,  # --ws wsproto
    "WebSocketProtocol": _legacy_open,  # --ws websockets (websockets' legacy asyncio implementation)
}
