"""Helpers for testing applications built on the bus: capture broadcasts, serve an app, drive a real client.

Example:
    >>> from eventbus import broadcast
    >>> from eventbus.testing import capture_broadcasts
    >>> async def create_message(chat_id: str, text: str) -> None:  # application code calling broadcast()
    ...     await broadcast(MessageEvent(chat_id=chat_id, text=text))
    >>> with capture_broadcasts() as sent:
    ...     asyncio.run(create_message(chat_id="42", text="hi"))
    >>> sent[0].rooms
    ['chat:42']
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import socketio
import uvicorn

from eventbus import default
from eventbus.sending import Sender, Sent, _Capture, capture
from eventbus.transport.redis_manager import RedisManager
from eventbus.transport.testclient import QuickCloseClient
from events import ANY_APP

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from eventbus.applications import Application
    from eventbus.bus import EventBus

__all__ = ["Inbox", "Sent", "SocketTestClient", "capture_broadcasts", "connect_error", "serve"]

FENCE = "__eventbus_fence__"


class _NoServer(Sender):
    """The default sender inside ``capture_broadcasts`` when the application created no bus."""

    def __init__(self, namespace: str = "/") -> None:
        self.namespace = namespace

    def for_app(self, path: str) -> Sender:
        return self if path in (self.namespace, ANY_APP) else _NoServer(path)

    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        return None


@contextlib.contextmanager
def capture_broadcasts(*, deliver: bool = False) -> Iterator[list[Sent]]:
    """Record every message any bus or emitter sends inside the block (events, payloads and resolved rooms).

    With ``deliver=False`` (the default) nothing reaches Socket.IO, so no server is
    needed; module-level ``broadcast()`` works even when no bus exists.

    Example:
        >>> from eventbus import broadcast
        >>> with capture_broadcasts() as sent:
        ...     asyncio.run(broadcast(MessageEvent(chat_id="42", text="hi")))  # in a test: await broadcast(...)
        >>> [(s.name, s.data, s.rooms) for s in sent]
        [('message', {'chat_id': '42', 'text': 'hi'}, ['chat:42'])]
    """
    sent: list[Sent] = []
    token = capture.set(_Capture(sent, deliver))
    installed = default._default is None
    if installed:
        default.set_default(_NoServer())
    try:
        yield sent
    finally:
        capture.reset(token)
        if installed:
            default.set_default(None)


@contextlib.asynccontextmanager
async def serve(
    app: Any, *, graceful_shutdown: int = 1, ws: str = "websockets-sansio", ws_per_message_deflate: bool = False
) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in the running loop; yields its base URL.

    ``ws`` picks uvicorn's websocket implementation (``websockets-sansio``,
    ``websockets`` or ``wsproto``); permessage-deflate is off unless asked for,
    as in `eventbus.serving.uvicorn_options`.

    Example:
        >>> async def main() -> None:
        ...     async with serve(bus.asgi_app()) as url:
        ...         print(url)
        ...         client = await SocketTestClient(url, token=token("alice")).connect()
        ...         await client.close()
        >>> asyncio.run(main())  # in a test: async with serve(...) directly
        http://127.0.0.1:...
    """
    # TCP named, as uvicorn's own --host/--port bind gets it from getaddrinfo: asyncio turns Nagle off (TCP_NODELAY)
    # only on sockets whose proto says TCP, and with Nagle on, an event sent right after the CONNECT reply waited
    # for the client's delayed ACK, 40 ms, in every test.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws=ws,
        ws_per_message_deflate=ws_per_message_deflate,
        timeout_graceful_shutdown=graceful_shutdown,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=graceful_shutdown + 10)
        sock.close()


class Inbox:
    """Everything a client received, per event name, with a way to wait for more."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Condition()

    async def put(self, event: str, data: Any) -> None:
        """Record one received event."""
        async with self._changed:
            self.events[event].append(data)
            self._changed.notify_all()

    async def wait_for(self, event: str, count: int = 1, timeout: float = 5) -> list[Any]:  # noqa: ASYNC109 - a bound per wait reads best in tests
        """Wait until ``count`` ``event`` messages arrived; return all of them."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events[event]) >= count), timeout)
        return list(self.events[event])


class SocketTestClient:
    """A real python-socketio client that records every event it receives, for tests.

    ``namespace`` picks the application to connect to (default ``/``).

    Example:
        >>> async def main() -> None:
        ...     async with serve(bus.asgi_app()) as url:
        ...         client = await SocketTestClient(url, token=token("alice")).connect()
        ...         print(await client.call("join_chat", {"chat_id": "42"}))
        ...         await bus.broadcast(MessageEvent(chat_id="42", text="hi"))
        ...         print(await client.inbox.wait_for("message"))
        ...         await client.close()
        >>> asyncio.run(main())
        {'ok': True, 'room': 'chat:42'}
        [{'chat_id': '42', 'text': 'hi'}]
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        transports: list[str] | None = None,
        namespace: str = "/",
        **connect_kwargs: Any,
    ) -> None:
        self.url = url
        self.auth = {"token": token} if token is not None else None
        self.transports = transports or ["websocket"]
        self.namespace = namespace
        self.connect_kwargs = connect_kwargs
        self.sio = QuickCloseClient(reconnection=False)
        self.inbox = Inbox()
        self.disconnects: list[Any] = []
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("disconnect", self.disconnects.append, namespace=namespace)

    async def _record(self, event: str, *args: Any) -> None:
        await self.inbox.put(event, args[0] if len(args) == 1 else list(args))

    @property
    def sid(self) -> str:
        """The connection's Socket.IO id."""
        sid: str = self.sio.get_sid(self.namespace)
        return sid

    async def connect(self) -> SocketTestClient:
        """Connect (raising ``socketio.exceptions.ConnectionError`` when refused) and return self."""
        await self.sio.connect(
            self.url,
            auth=self.auth,
            transports=self.transports,
            namespaces=[self.namespace],
            wait_timeout=5,
            **self.connect_kwargs,
        )
        return self

    @property
    def recovered(self) -> bool:
        """Whether the last connect restored the previous connection (Socket.IO's ``socket.recovered``)."""
        return self.sio.recovered.get(self.namespace, False)

    async def reconnect(self) -> SocketTestClient:
        """Connect again after `drop`, presenting the session id and last offset as socket.io-client does.

        With the server's ``recovery_window`` on and the drop within it, `recovered` is then true, the
        missed events are in the inbox, in order, and the rooms are the same.
        """
        auth = {**(self.auth or {}), **self.sio.recovery_auth(self.namespace)}
        await self.sio.connect(
            self.url,
            auth=auth or None,
            transports=self.transports,
            namespaces=[self.namespace],
            wait_timeout=5,
            **self.connect_kwargs,
        )
        return self

    async def call(self, event: str, *args: Any, timeout: float = 5) -> Any:  # noqa: ASYNC109 - the ack deadline
        """Emit ``event`` with ``args`` and return the ack."""
        return await self.sio.call(
            event, args[0] if len(args) == 1 else args, namespace=self.namespace, timeout=timeout
        )

    async def emit(self, event: str, *args: Any) -> None:
        """Emit without asking for an ack."""
        await self.sio.emit(event, args[0] if len(args) == 1 else args, namespace=self.namespace)

    async def fence(self, bus: EventBus | Application) -> None:
        """Wait until everything sent to this client before now has arrived (per-socket order is kept).

        ``bus`` is the bus or the application this client is connected to. On Redis the fence follows what it
        fences: one through each channel the client's rooms use (`RedisManager.emit_behind`), so what any process
        published before is in, even an emit still on its way through Redis when this is called.
        """
        before = len(self.inbox.events[FENCE])
        manager = bus.sio.manager
        if isinstance(manager, RedisManager) and not manager.write_only:
            fences = await manager.emit_behind(FENCE, self.sid, self.namespace)
        else:
            await bus.sio.emit(FENCE, {}, to=self.sid, namespace=self.namespace)
            fences = 1
        await self.inbox.wait_for(FENCE, before + fences)

    async def drop(self) -> None:
        """Vanish like a killed process: no disconnect packet, the TCP connection just closes.

        Over websocket the server notices at once; over long-polling only when
        the client misses its pings (``EVENTBUS_PING_INTERVAL`` + ``EVENTBUS_PING_TIMEOUT``),
        and the call itself returns once the pending long-poll has ended (within the ping interval).
        """
        await self.sio.eio.drop()

    def received(self, event: str) -> list[Any]:
        """The ``event`` messages received so far."""
        return list(self.inbox.events[event])

    async def close(self) -> None:
        """Disconnect if connected."""
        if self.sio.connected:
            await self.sio.disconnect()


async def connect_error(
    url: str, *, auth: Any = None, transports: list[str] | None = None, namespace: str = "/", **kwargs: Any
) -> Any:
    """Connect a client that must be refused and return the ``connect_error`` data the server sent it."""
    client = QuickCloseClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append, namespace=namespace)
    try:
        await client.connect(
            url, auth=auth, transports=transports or ["websocket"], namespaces=[namespace], wait_timeout=5, **kwargs
        )
    except socketio.exceptions.ConnectionError:
        pass
    else:
        await client.disconnect()
        raise AssertionError(f"the connection with auth={auth!r} was accepted")
    finally:
        await client.shutdown()
    if not errors:
        raise AssertionError("the connection was refused without a connect_error event")
    return errors[0]
