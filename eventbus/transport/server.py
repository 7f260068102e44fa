"""`Server`: python-socketio's ``AsyncServer`` with the two hooks connection state recovery needs on the wire.

python-socketio has no connection state recovery (no ``pid`` anywhere in it).
Socket.IO 4.6+'s protocol needs two things of the server beyond its public API:

* the CONNECT reply carries the private session id beside the sid,
  ``{"sid": ..., "pid": ...}``: `Server.add_to_connect_reply` lays extra
  fields over the reply python-socketio builds in ``_handle_connect``
  (``_send_packet`` is overridden for that);
* a socket whose engine.io connection closed (the transport, not a Socket.IO
  DISCONNECT) is recoverable. python-engineio reports a CLOSE packet from the
  client as ``client disconnect``, the same reason as a Socket.IO DISCONNECT,
  so `Server` marks disconnects that come from engine.io (``_handle_eio_disconnect``)
  and `recoverable` tells them apart, as socket.io's own server does
  (``transport close``).

`Server.resend` sends logged EVENT packets to one socket again, through
``_send_packet``, so they go after anything held for it by the fast path.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import socketio
from socketio import packet as sio_packet

__all__ = ["Server", "recoverable"]

_engine_closed: ContextVar[bool] = ContextVar("_engine_closed", default=False)

_RECOVERABLE = frozenset(
    {
        socketio.AsyncServer.reason.TRANSPORT_CLOSE,
        socketio.AsyncServer.reason.TRANSPORT_ERROR,
        socketio.AsyncServer.reason.PING_TIMEOUT,
    }
)


def recoverable(reason: Any) -> bool:
    """Whether a disconnect (called with python-socketio's ``reason``) lost the connection rather than ended it.

    Only meaningful inside a disconnect handler: an engine.io CLOSE from the client
    (``socket.io.engine.close()``) counts, a Socket.IO DISCONNECT (``socket.disconnect()``) does not.
    """
    if reason in _RECOVERABLE:
        return True
    return reason == socketio.AsyncServer.reason.CLIENT_DISCONNECT and _engine_closed.get()


class Server(socketio.AsyncServer):  # type: ignore[misc]  # python-socketio ships no type hints
    """``socketio.AsyncServer`` plus the CONNECT reply's extra fields and packet replay (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connect_extras: dict[tuple[str, str], dict[str, Any]] = {}

    def add_to_connect_reply(self, namespace: str, sid: str, fields: dict[str, Any]) -> None:
        """Send ``fields`` in the CONNECT reply of ``sid`` (call it from the connect handler)."""
        self._connect_extras[(namespace, sid)] = fields

    def forget_connect_reply(self, namespace: str, sid: str) -> None:
        """Drop what `add_to_connect_reply` kept for ``sid`` (a connect refused after it)."""
        self._connect_extras.pop((namespace, sid), None)

    async def subscribe_rooms(self, namespace: str, rooms: list[str]) -> None:
        """With room-sharded channels, subscribe to the partitions of ``rooms`` before a join reads what it replays."""
        subscribe = getattr(self.manager, "subscribe_rooms", None)
        if subscribe is not None:
            await subscribe(namespace, rooms)

    async def resend(self, namespace: str, sid: str, packets: list[list[Any]]) -> None:
        """Send EVENT packets (each its data: name, arguments) to one socket of this process, in order."""
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        if eio_sid is None:
            return
        for data in packets:
            await self._send_packet(eio_sid, self.packet_class(sio_packet.EVENT, namespace=namespace, data=data))

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if pkt.packet_type == sio_packet.CONNECT and isinstance(pkt.data, dict) and self._connect_extras:
            extra = self._connect_extras.pop((pkt.namespace or "/", str(pkt.data.get("sid"))), None)
            if extra:
                pkt.data = {**pkt.data, **extra}
        await super()._send_packet(eio_sid, pkt)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        token = _engine_closed.set(True)
        try:
            await super()._handle_eio_disconnect(eio_sid, reason)
        finally:
            _engine_closed.reset(token)
