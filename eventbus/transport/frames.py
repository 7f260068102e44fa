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
recipient: `FramedPacket` builds them once, and `write_now` writes them to a
recipient's transport itself, the way the websocket implementation would, when
nothing can be between them:

* the connection is a websocket (upgraded, not upgrading) whose writer is idle,
  waiting on an empty queue (`SendQueue.consumers`): no packet queued earlier,
  none taken by the writer and not yet written;
* the transport has nothing buffered: a client that stops reading is left to the
  normal path, where `SendQueue` bounds what waits for it and the write timeout
  applies;
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

import struct
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet

from eventbus.transport.outbound import SendQueue

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FramedPacket", "text_frame", "write_now"]

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


def write_now(socket: Any, packets: list[Any]) -> bool:
    """Write ``packets`` to ``socket``'s transport now, if nothing can come between (see the module docs).

    ``socket`` is a python-engineio ``AsyncSocket`` whose queue is a `SendQueue`;
    ``False``: nothing was written, queue the packets.
    """
    queue = socket.queue
    if not isinstance(queue, SendQueue) or queue.sealed or queue.qsize() or not queue.consumers:
        return False
    websocket = queue.websocket
    if websocket is None or websocket.blocked or not socket.upgraded or socket.upgrading:
        return False
    protocol = getattr(websocket.asgi_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None or transport.is_closing() or transport.get_write_buffer_size():
        return False
    if not _plain_frames_open(protocol) or not all(isinstance(pkt, FramedPacket) for pkt in packets):
        return False
    transport.write(b"".join(pkt.frame for pkt in packets))
    websocket.writes += 1
    return True


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
