"""A bound on what a connection may have waiting to be written, and on how long one write may take.

python-engineio gives every connection an unbounded ``asyncio.Queue`` and a writer
task (websocket) or the next long-poll (polling) that empties it. A client that
stops reading stalls the writer inside the server's websocket ``send`` (uvicorn
waits for its transport to drain) while every broadcast of its rooms keeps being
queued: the server holds them all until the process runs out of memory.

`SendLimits` closes both holes for one ``socketio.AsyncServer``:

* every engine.io socket gets a `SendQueue`, which counts the bytes it holds
  (plus those `WriteCoalescer` holds for it). Every send path ends in that queue's
  ``put_nowait``: the fast path, the coalescer, python-socketio's own sends (acks,
  connects, emits with a callback), the Redis receive path and long-polling. Past
  ``max_bytes`` the connection is a slow consumer: its queue is emptied, it gets a
  farewell (``session_ended``) and a CLOSE, and it is disconnected at once, so
  nothing else is queued for it and nobody else waits;
* every websocket write is watched: a write that cannot finish within
  ``write_timeout`` (the peer's TCP window has stayed shut that long; noticed
  within 1.25 times that) aborts the TCP connection, which ends engine.io's reader
  and writer and so the session;
* a websocket the server closes is aborted when the peer has not completed the
  closing handshake within engine.io's ``ping_timeout`` (uvicorn waits 10 s, with
  whatever its parser buffered: half a frame), and a finished websocket lets go of
  uvicorn's protocol;
* python-engineio's ``close(wait=True)`` waits for the client to take the queue
  (`SendQueue.join`) for ``ping_timeout`` at most: a long-polling client that never
  polls again no longer holds the closer (a POST's answer) for good.

Internals used (python-socketio 5.16-5.18, python-engineio 4.12-4.15, uvicorn): python-socketio's
``AsyncServer._handle_eio_disconnect`` (the disconnect handlers of every namespace, with the reason
``slow_consumer``), python-engineio's ``AsyncServer.create_queue``
(replaced per server), ``AsyncServer._async["websocket"]`` (a copy of the driver
table, per server, with `TimedWebSocket`), ``AsyncSocket.queue``, ``closed``,
``close``, ``server.ping_timeout``, the ASGI driver's ``WebSocket`` (``__call__``, ``handler``,
``asgi_send``, ``asgi_receive``) and, to abort a stalled connection, the ``transport`` of the protocol
object whose bound method is uvicorn's ASGI ``send`` (uvicorn's three websocket implementations).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi
from socketio import packet as sio_packet

from eventbus.observability.logfields import library_logger
from eventbus.transport.guard import check_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["SendLimits", "SendQueue", "SlowConsumer", "TimedWebSocket", "packet_size"]

logger = library_logger(__name__)

SLOW_CONSUMER = "slow_consumer"
"""The disconnect reason python-socketio hands the ``disconnect`` handlers of a slow consumer."""


# A tuple, not ``str | bytes | bytearray``: written in the call, the union is built anew on every call (0.7 µs on
# Python 3.11, ten times the isinstance), and this runs per recipient of every held broadcast.
_SIZED = (str, bytes, bytearray)


def packet_size(pkt: Any) -> int:
    """What an engine.io packet counts against the bound: its payload's length (1 for a packet without one).

    ``len`` of the text rather than its UTF-8 encoding: O(1), and what CPython holds for ASCII JSON.
    """
    data = pkt.data
    return len(data) + 1 if isinstance(data, _SIZED) else 1


def packets_size(packets: list[Any]) -> int:
    """The sum of `packet_size` over ``packets``."""
    return sum(packet_size(pkt) for pkt in packets)


@dataclass(frozen=True, slots=True)
class SlowConsumer:
    """A connection being dropped: its engine.io sid, its Socket.IO sids by namespace, what it had queued, why."""

    eio_sid: str
    sids: dict[str, str]
    queued_bytes: int
    cause: str  # "queue" (over max_bytes) or "write_timeout"


class SendQueue(asyncio.Queue[Any]):
    """engine.io's per-connection queue, counting the bytes it holds; a stalled consumer past ``limit`` overflows.

    A backlog alone is not slowness: a loop of broadcasts queues many packets
    before any writer runs. The connection overflows (``overflow`` is called,
    once) when its backlog is over ``limit`` while its consumer is stalled: its
    websocket writer is waiting for the client to read (`TimedWebSocket.blocked`),
    or, long-polling, no request is waiting for packets. After that the queue is
    sealed: packets put later are dropped, apart from the ``None`` engine.io uses
    to wake its writer.
    """

    def __init__(self, limit: int, overflow: Callable[[SendQueue], None], join_timeout: float | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.join_timeout = join_timeout
        self.queued_bytes = 0
        self.held_bytes = 0
        self.sealed = False
        self.websocket: TimedWebSocket | None = None
        self.consumers = 0
        self.after_farewell: Callable[[], None] | None = None
        """Called once the CLOSE packet of `put_final` has been taken (by the writer or a poll)."""
        self._overflow = overflow

    @property
    def total_bytes(self) -> int:
        """Bytes queued here plus those a `WriteCoalescer` holds for this connection."""
        return self.queued_bytes + self.held_bytes

    @property
    def stalled(self) -> bool:
        """Whether the consumer is stuck: a websocket write waiting for the client, or no long-poll waiting."""
        websocket = self.websocket
        if websocket is not None:
            return websocket.blocked
        return self.consumers == 0

    async def join(self) -> None:
        """Wait until the client has taken what is queued, ``join_timeout`` at most (then it is not coming).

        python-engineio's ``close(wait=True)`` waits here, for a poll or the websocket writer: a long-polling
        client that never polls again held the waiter for good, e.g. the 400 answer to a POST over the
        payload limit, with its closed session.
        """
        if self.join_timeout is None:
            await super().join()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.join_timeout):
                await super().join()

    def put_nowait(self, item: Any) -> None:
        if item is None:
            super().put_nowait(item)
            return
        if self.sealed:
            return
        waiting = self.queued_bytes + self.held_bytes
        size = packet_size(item)
        self.queued_bytes += size
        super().put_nowait(item)
        # One message bigger than the bound still goes out when nothing else waits: the bound is on a backlog.
        if waiting and waiting + size > self.limit and self.stalled:
            self._overflow(self)

    async def get(self) -> Any:
        self.consumers += 1
        try:
            return await super().get()
        finally:
            self.consumers -= 1

    def _get(self) -> Any:
        item = super()._get()
        if item is not None:
            self.queued_bytes -= packet_size(item)
            if self.sealed and item.packet_type == eio_packet.CLOSE and self.after_farewell is not None:
                self.after_farewell()
                self.after_farewell = None
        return item

    def hold(self, nbytes: int) -> bool:
        """Count ``nbytes`` held elsewhere for this connection; ``False`` when it is dropped (drop them too)."""
        if self.sealed:
            return False
        waiting = self.queued_bytes + self.held_bytes
        self.held_bytes += nbytes
        if waiting and waiting + nbytes > self.limit and self.stalled:
            self._overflow(self)
            return False
        return True

    def unhold(self, nbytes: int) -> None:
        """The held bytes are being queued (or dropped)."""
        self.held_bytes = max(0, self.held_bytes - nbytes)

    def drain(self) -> None:
        """Drop everything queued and seal: memory is released now, ``join()`` returns."""
        self.sealed = True
        while True:
            try:
                self.get_nowait()
            except asyncio.QueueEmpty:
                break
            self.task_done()
        self.queued_bytes = self.held_bytes = 0

    def put_final(self, packets: list[Any]) -> None:
        """Queue ``packets`` on a sealed queue: the farewell and CLOSE, then ``None`` to end the writer."""
        for pkt in packets:
            if pkt is not None:
                self.queued_bytes += packet_size(pkt)
            asyncio.Queue.put_nowait(self, pkt)


class SendLimits:
    """Installs the outbound bound and the write timeout on one ``socketio.AsyncServer`` (see the module docs).

    ``farewell`` is the ``(event, data)`` a slow consumer gets in each namespace it
    is connected to before its socket closes (when its writer can still send it);
    ``on_slow`` is told about each slow consumer once, before its disconnect
    handlers run.

    Example:
        >>> import socketio
        >>> sio = socketio.AsyncServer(async_mode="asgi")
        >>> SendLimits(max_bytes=1 << 20, write_timeout=5.0).install(sio)
        >>> sio.eio.create_queue().limit
        1048576
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        write_timeout: float,
        farewell: tuple[str, Any] | None = None,
        on_slow: Callable[[SlowConsumer], None] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.write_timeout = write_timeout
        self.farewell = farewell
        self.on_slow = on_slow
        self.sio: Any = None
        self.dropped = 0
        self.on_bad_frame: Callable[[str, str], bool] | None = None
        """Told about each websocket frame engine.io could not decode (it is skipped); ``True``: end the connection."""
        self.on_message: Callable[[str, str], bool] | None = None
        """Offered each text MESSAGE frame's payload (engine.io sid, payload): ``True`` when it took the frame."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def install(self, sio: Any) -> None:
        """Give ``sio``'s engine.io server byte-counting queues and timed websocket writes."""
        self.sio = sio
        eio = sio.eio
        eio.create_queue = self._create_queue
        limits = self

        def websocket(handler: Any, server: Any) -> TimedWebSocket:
            return TimedWebSocket(handler, server, limits)

        eio._async = {**eio._async, "websocket": websocket}

    def watch(self) -> None:
        """Start the write watchdog (once, with the first websocket): it runs until `stop`."""
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="eventbus-write-watchdog")

    async def stop(self) -> None:
        """Stop the write watchdog and wait for the disconnects in progress (shutdown)."""
        tasks = [task for task in (self._watchdog, *self._tasks) if task is not None]
        self._watchdog = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self) -> None:
        # A write counts as timed out once it has been seen blocked, with no write completed since, for
        # write_timeout: detected within 1.25 times the timeout, at the cost of one pass over the sockets
        # every quarter of it.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.write_timeout / 4)
            now = loop.time()
            for socket in list(self.sio.eio.sockets.values()):
                websocket = getattr(socket.queue, "websocket", None)
                if websocket is None or not websocket.blocked:
                    continue
                if websocket.stuck is None or websocket.stuck[0] != websocket.writes:
                    websocket.stuck = (websocket.writes, now)
                elif now - websocket.stuck[1] >= self.write_timeout:
                    websocket.stuck = None
                    websocket.timed_out()

    def _create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue(self.max_bytes, self._overflowed, self.sio.eio.ping_timeout)

    def _socket_of(self, queue: SendQueue) -> Any:
        # engine.io creates the queue inside the socket's constructor, before the socket is registered: look it up
        # when needed (once per slow consumer) rather than on every connect.
        for socket in list(self.sio.eio.sockets.values()):
            if socket.queue is queue:
                return socket
        return None

    def _overflowed(self, queue: SendQueue) -> None:
        queued = queue.total_bytes
        queue.drain()
        socket = self._socket_of(queue)
        if socket is None or socket.closed or socket.closing:
            return
        sids = self._sids(socket.sid)
        if not sids:
            return  # already disconnected from every namespace: nothing to say, nothing more will be sent
        queue.put_final([*self._farewells(sids, self.farewell), eio_packet.Packet(eio_packet.CLOSE), None])
        # Once the CLOSE is on its way the engine.io socket can go (a poll that took it then ends the session).
        queue.after_farewell = lambda: self._spawn(socket.close(wait=False, abort=True, reason=SLOW_CONSUMER), socket)
        self._drop(socket, sids, queued, "queue")

    def timed_out(self, socket: Any) -> None:
        """A websocket write of ``socket`` did not finish within ``write_timeout``: drop the connection."""
        queue = socket.queue
        queued = queue.total_bytes if isinstance(queue, SendQueue) else 0
        if isinstance(queue, SendQueue):
            queue.drain()
        sids = self._sids(socket.sid)
        if socket.closed or socket.closing or not sids:
            return
        self._drop(socket, sids, queued, "write_timeout")

    def end(self, eio_sid: str, reason: str, farewell: tuple[str, Any] | None = None) -> None:
        """End a connection now: drop what it has queued, send it ``farewell`` (in each namespace) and CLOSE, and run
        its disconnect handlers with ``reason``."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return
        queue = socket.queue
        if isinstance(queue, SendQueue):
            queue.drain()
            farewells = self._farewells(self._sids(eio_sid), farewell) if farewell is not None else []
            queue.put_final([*farewells, eio_packet.Packet(eio_packet.CLOSE), None])
            queue.after_farewell = lambda: self._spawn(socket.close(wait=False, abort=True, reason=reason), socket)
        self._spawn(self.sio._handle_eio_disconnect(eio_sid, reason), socket)

    def end_all(self, reason: str, farewell: tuple[str, Any] | None = None) -> int:
        """`end` every connection of this server (each gets ``farewell``); how many there were.

        A client sees its transport closed, so socket.io-client reconnects by itself.
        """
        sockets = [sid for sid, socket in list(self.sio.eio.sockets.items()) if not (socket.closed or socket.closing)]
        for eio_sid in sockets:
            self.end(eio_sid, reason, farewell)
        return len(sockets)

    def _sids(self, eio_sid: str) -> dict[str, str]:
        manager = self.sio.manager
        sids = {}
        for namespace in list(manager.get_namespaces()):
            sid = manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is not None and manager.is_connected(sid, namespace):
                sids[namespace] = sid
        return sids

    def _farewells(self, sids: dict[str, str], farewell: tuple[str, Any] | None) -> list[Any]:
        if farewell is None:
            return []
        event, data = farewell
        packets = []
        for namespace in sids:
            encoded = self.sio.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, data]).encode()
            packets.append(eio_packet.Packet(eio_packet.MESSAGE, encoded))
        return packets

    def _drop(self, socket: Any, sids: dict[str, str], queued: int, cause: str) -> None:
        self.dropped += 1
        if self.on_slow is not None:
            try:
                self.on_slow(SlowConsumer(socket.sid, sids, queued, cause))
            except Exception:
                logger.exception("the slow-consumer callback failed for eio sid=%s", socket.sid)
        # Not awaited here (this runs inside a put): the disconnect handlers run as soon as the loop turns. The
        # engine.io socket stays open until its writer has sent the farewell and CLOSE (or, polling, until the
        # next poll takes them): closed now, a long-polling client would only get "invalid session".
        self._spawn(self.sio._handle_eio_disconnect(socket.sid, SLOW_CONSUMER), socket)

    def _spawn(self, coro: Coroutine[Any, Any, None], socket: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"eventbus-slow-{socket.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class TimedWebSocket(eio_asgi.WebSocket):  # type: ignore[misc]  # python-engineio ships no type hints
    """python-engineio's ASGI websocket whose writes give up after the limits' ``write_timeout``."""

    def __init__(self, handler: Any, server: Any, limits: SendLimits) -> None:
        super().__init__(handler, server)
        self.handler = handler
        self.limits = limits
        self.blocked = False
        """True while a write waits for the client to read (seen only from other tasks: a write that does not
        wait sets and clears it within one step)."""
        self.writes = 0
        self.stuck: tuple[int, float] | None = None
        """The watchdog's note: ``(writes, when)`` it first saw this write blocked."""
        self.socket = getattr(handler, "__self__", None)  # the engine.io AsyncSocket whose handler this is
        if self.socket is not None and isinstance(self.socket.queue, SendQueue):
            self.socket.queue.websocket = self
        limits.watch()

    async def __call__(self, environ: Any) -> Any:
        try:
            return await super().__call__(environ)
        finally:
            # python-engineio's service task keeps the last socket it checked in a local variable (for good once
            # no socket is left): that socket must not keep uvicorn's protocol, which holds what its parser has
            # buffered (half a frame: up to ws_max_size).
            if self.socket is not None and getattr(self.socket.queue, "websocket", None) is self:
                self.socket.queue.websocket = None
            self.asgi_receive = self.asgi_send = None

    async def send(self, message: Any) -> None:
        # No timer per write (at tens of thousands of writes a second, arming and cancelling one doubled the
        # CPU per delivery): `SendLimits`'s watchdog looks at ``blocked`` and ``writes`` a few times per timeout.
        self.blocked = True
        try:
            await super().send(message)
        finally:
            self.blocked = False
            self.writes += 1

    def timed_out(self) -> None:
        """This write has waited ``write_timeout``: drop the connection and abort its TCP connection."""
        if self.socket is not None:
            self.limits.timed_out(self.socket)
        self.abort()

    async def wait(self) -> Any:
        while True:
            frame = await super().wait()
            check, socket = self.limits.on_bad_frame, self.socket
            if socket is None:
                return frame
            # The bus's client events are answered here, in the reader: python-engineio would start a task
            # and decode a packet per frame. Frames of the upgrade handshake ("2probe", "5") never start with "4".
            # Over max_http_buffer_size, python-engineio's own check ends the connection: it gets those frames.
            take = self.limits.on_message
            if (
                take is not None
                and isinstance(frame, str)
                and frame[:1] == "4"
                and socket.upgraded
                and len(frame) <= socket.server.max_http_buffer_size
                and take(socket.sid, frame[1:])
            ):
                continue
            reason = check_frame(frame) if check is not None else None
            if reason is None or check is None:
                return frame
            if check(socket.sid, reason):
                raise OSError("ended: it kept sending frames engine.io cannot decode")

    async def close(self) -> None:
        try:
            async with asyncio.timeout(self.limits.write_timeout):
                await super().close()
        except TimeoutError:
            self.abort()
            return
        transport = self._transport()
        if transport is not None and self.socket is not None:
            # uvicorn waits 10 s for the peer's closing handshake, holding the connection and whatever its parser
            # has buffered (half a frame: up to ws_max_size). A peer that has not answered within engine.io's ping
            # timeout is gone. Only the transport is kept until then: once closed, it lets go of its protocol.
            asyncio.get_running_loop().call_later(self.socket.server.ping_timeout, transport.abort)

    def abort(self) -> None:
        """Close the TCP connection without flushing (what is unsent stays unsent): the peer stopped reading."""
        transport = self._transport()
        if transport is not None:
            transport.abort()

    def _transport(self) -> Any:
        protocol = getattr(self.asgi_send, "__self__", None)
        return getattr(protocol, "transport", None)
