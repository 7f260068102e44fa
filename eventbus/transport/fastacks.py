"""The bus's client events answered without python-socketio's generic dispatch: the inbound fast path.

For a client event (``42<id>["send_message",{...}]``) python-socketio decodes the
packet a second time (`InboundGuard` has already parsed it), creates a task for
it (``async_handlers``), finds the handler through ``_trigger_event``, builds an
ACK ``Packet`` (which walks the data looking for binary parts) and sends that
through four coroutines down to the socket's queue. In the benchmark a typed
round trip cost twice raw python-socketio's, most of it there and in the task.

`FastAcks.answer` does that work once for the handlers the bus registers
(`ClientEventHandler`, and `RoomHandlers`' join and leave), which validate and
rate-limit themselves and answer with an ack dict:

* on a websocket, `TimedWebSocket` offers each text frame to the guard
  (`InboundGuard.answer_now`) as it reads it, so a frame taken here costs no
  python-engineio task or packet; long-polling frames come through the guard's
  ``message`` handler. Either way the guard's parse is reused and the handler
  found with one lookup in python-socketio's own table (``AsyncServer.handlers``);
* the handler runs in its own task, in a copy of the reader's context: an eager
  one on Python 3.12+ (its first step runs at once, and one that finishes
  without suspending, as most do, costs no loop turn), a plain one on 3.11.
  Never in the reader's own task: a handler's ``asyncio.timeout`` or
  ``TaskGroup`` would then cancel the reader, and the connection with it. A slow
  handler never holds up the connection's next packets, and handlers of one
  connection start in the order their packets came;
* the ACK is encoded with a prebuilt prefix and sent as the broadcast fast path
  sends (`FastEmitManager`), after the socket's held broadcasts
  (`WriteCoalescer.release`): written by `FrameWriter` with the connection's
  frames of this loop turn when its writer is idle, else queued. An ack never
  overtakes what was sent to the same connection before it.

Everything else takes python-socketio's path: binary events, unknown events (the
``*`` handler), handlers registered with ``sio.on`` directly, ``async_handlers=False``,
an engine.io or Socket.IO logger at INFO (they log every packet), an ack that is
not plain JSON (python-socketio would send it as a binary ACK), and a socket that
is gone, closed or overdue on its ping (python-engineio's ``send`` closes such a
socket). ``tests/eventbus/test_fastacks.py`` compares the bytes on the wire with that path.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from eventbus.inbound.handlers import ClientEventHandler
from eventbus.inbound.joins import RoomHandlers
from eventbus.observability.logfields import library_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["FastAcks"]

logger = library_logger(__name__)

EAGER = sys.version_info >= (3, 12)
"""Whether asyncio has eager tasks (``Task(..., eager_start=True)``, Python 3.12)."""

_OURS = (ClientEventHandler, RoomHandlers)


class FastAcks:
    """Runs the bus's handlers of one ``socketio.AsyncServer`` and queues their acks (see the module docs)."""

    def __init__(self, sio: Any) -> None:
        self.sio = sio
        self.answered = 0
        """Events this path has taken (the tests check which path ran)."""
        self._prefixes: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        dumps = sio.packet_class.json.dumps
        # The same text as Packet.encode's ``json.dumps(data, separators=(',', ':'))``, without building an
        # encoder per call (what json.dumps does whenever it is given options).
        self._dumps: Callable[[Any], str] = (
            json.JSONEncoder(separators=(",", ":")).encode
            if dumps is json.dumps
            else functools.partial(dumps, separators=(",", ":"))
        )

    @property
    def enabled(self) -> bool:
        """Whether events may take this path now: handlers in tasks, and no logger writing every packet."""
        sio = self.sio
        # The Admin UI (development mode) reports received events by replacing ``_trigger_event`` on the server:
        # then python-socketio's dispatch, which calls it, must carry them.
        return (
            bool(sio.async_handlers)
            and "_trigger_event" not in vars(sio)
            and not (sio.logger.isEnabledFor(logging.INFO) or sio.eio.logger.isEnabledFor(logging.INFO))
        )

    def answer(self, eio_sid: str, sid: str, namespace: str, ack_id: int | None, data: list[Any]) -> bool:
        """Start the handler of the EVENT ``data`` (checked by the guard); ``False`` when python-socketio must."""
        handler = self.sio.handlers.get(namespace, {}).get(data[0])
        if not isinstance(getattr(handler, "__self__", None), _OURS) or not self.enabled:
            return False
        if not self.sio.manager.is_connected(sid, namespace):
            return False  # connecting or leaving: python-socketio logs and drops it
        self.answered += 1
        self._start(self._run(handler, eio_sid, sid, namespace, ack_id, data))
        return True

    async def _run(self, handler: Any, eio_sid: str, sid: str, namespace: str, ack_id: int | None, data: Any) -> None:
        ack = await handler(sid, *data[1:])
        if ack_id is None:
            return
        prefix = self._prefixes.get(namespace)
        if prefix is None:
            prefix = self._prefixes[namespace] = f"{sio_packet.ACK}{'' if namespace == '/' else namespace + ','}"
        try:
            encoded = f"{prefix}{ack_id}{self._dumps([ack])}"
        except TypeError:  # not plain JSON (bytes, say): python-socketio's packet knows what to do with it
            await self.sio._send_packet(eio_sid, self.sio.packet_class(sio_packet.ACK, namespace, [ack], ack_id))
            return
        await self.send(eio_sid, encoded)

    async def send(self, eio_sid: str, encoded: str) -> None:
        """Queue an encoded Socket.IO packet on a healthy socket after its held broadcasts, or send it the usual way."""
        eio = self.sio.eio
        socket = eio.sockets.get(eio_sid)
        if socket is None or socket.closed or (socket.last_ping and time.time() - socket.last_ping > eio.ping_timeout):
            await eio.send(eio_sid, encoded)  # python-engineio closes an overdue socket and logs a missing one
            return
        manager = self.sio.manager
        coalescer = getattr(manager, "coalescer", None)
        if coalescer is not None and coalescer.holding:
            coalescer.release(socket)
        frame_writer = getattr(manager, "frame_writer", None)
        if frame_writer is None:
            socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, encoded))
            return
        # After this loop turn's broadcast frames for the socket, in the same write when its writer is idle (the
        # frame writer's conditions: nothing queued, nothing in a write, upgraded and not being probed).
        frame_writer.send(socket, encoded)

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        if EAGER:
            task = asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg]
            if task.done():
                self._done(task)
                return
        else:
            task = loop.create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def stop(self) -> None:
        """Cancel the handlers still running (shutdown) and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a client event handler failed outside its own error handling", exc_info=task.exception())
