"""Test clients: python-socketio's AsyncClient and the real JavaScript socket.io-client, with inboxes."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
from collections import defaultdict
from typing import Any

import engineio
import socketio

JS_DIR = pathlib.Path(__file__).parent / "js"
FENCE = "__fence__"


class _QuickCloseEngineIOClient(engineio.AsyncClient):  # type: ignore[misc]
    """Closes without waiting for the pending long-poll.

    python-engineio answers a polling client's CLOSE without ending that client's pending GET, so a clean
    disconnect (including the one after a refused connect) waits ping_interval + ping_timeout (45 s).
    """

    async def disconnect(self, abort: bool = False, reason: Any = None) -> None:
        read_loop = self.read_loop_task
        await super().disconnect(abort=True, reason=reason)
        if read_loop is not None and self.current_transport == "polling":
            read_loop.cancel()


class TestSocketClient(socketio.AsyncClient):  # type: ignore[misc]
    """``socketio.AsyncClient`` with the quick-closing engine.io client."""

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return _QuickCloseEngineIOClient


class Inbox:
    """Everything a client received, per event name, with waiting helpers."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Condition()

    async def put(self, event: str, data: Any) -> None:
        async with self._changed:
            self.events[event].append(data)
            self._changed.notify_all()

    async def wait_for(self, event: str, count: int = 1, timeout: float = 5) -> list[Any]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events[event]) >= count), timeout)
        return list(self.events[event])


class PyClient:
    """A real ``socketio.AsyncClient`` that records every event it receives."""

    def __init__(self, url: str, *, token: str | None = None, transports: list[str] | None = None, **kw: Any) -> None:
        self.url = url
        self.auth = {"token": token} if token is not None else None
        self.transports = transports or ["websocket"]
        self.connect_kwargs = kw
        self.sio = TestSocketClient(reconnection=False)
        self.inbox = Inbox()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        await self.inbox.put(event, args[0] if len(args) == 1 else list(args))

    async def connect(self) -> PyClient:
        await self.sio.connect(
            self.url, auth=self.auth, transports=self.transports, wait_timeout=5, **self.connect_kwargs
        )
        return self

    async def call(self, event: str, *args: Any, timeout: float = 5) -> Any:
        return await self.sio.call(event, args[0] if len(args) == 1 else args, timeout=timeout)

    async def fence(self, bus: Any) -> None:
        """Wait until everything sent to this client before now has arrived (per-socket order is kept)."""
        before = len(self.inbox.events[FENCE])
        await bus.sio.emit(FENCE, {}, to=self.sio.get_sid())
        await self.inbox.wait_for(FENCE, before + 1)

    def received(self, event: str) -> list[Any]:
        return list(self.inbox.events[event])

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


class JSClient:
    """The real socket.io-client from npm, run by ``tests/js/harness.mjs`` in a Node process."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        transports: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.options = {
            "url": url,
            "auth": {"token": token} if token is not None else None,
            "transports": transports or ["websocket"],
            "extraHeaders": headers,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.inbox = Inbox()
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        """Start Node and return the first lifecycle message: ``connect`` or ``connect_error``."""
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            str(JS_DIR / "harness.mjs"),
            json.dumps(self.options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=JS_DIR,
            env=dict(os.environ),
        )
        self._reader = asyncio.create_task(self._read())
        await self.inbox.wait_for("__lifecycle__", 1, timeout=15)
        first: dict[str, Any] = self.inbox.events["__lifecycle__"][0]
        return first

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            message = json.loads(line)
            kind = message["type"]
            if kind in ("ack", "ack_timeout", "done"):
                self._acks.pop(message["id"]).set_result(message)
            elif kind == "event":
                args = message["args"]
                await self.inbox.put(message["event"], args[0] if len(args) == 1 else args)
            else:
                await self.inbox.put("__lifecycle__", message)

    async def _command(self, command: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[self._next_id] = future
        self.proc.stdin.write((json.dumps({"id": self._next_id, **command}) + "\n").encode())
        await self.proc.stdin.drain()
        result: dict[str, Any] = await asyncio.wait_for(future, timeout)
        return result

    async def call(self, event: str, *args: Any) -> Any:
        reply = await self._command({"cmd": "emit", "event": event, "args": list(args), "ack": True})
        assert reply["type"] == "ack", reply
        return reply["args"][0] if len(reply["args"]) == 1 else reply["args"]

    async def emit(self, event: str, *args: Any) -> None:
        await self._command({"cmd": "emit", "event": event, "args": list(args), "ack": False})

    def received(self, event: str) -> list[Any]:
        return list(self.inbox.events[event])

    def received_events(self) -> list[str]:
        """Names of the events received so far, lifecycle messages aside."""
        return sorted(name for name, items in self.inbox.events.items() if items and name != "__lifecycle__")

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader


async def connect_error(url: str, *, auth: Any = None, transports: list[str] | None = None, **kw: Any) -> Any:
    """Connect a python-socketio client that must be refused; return the ``connect_error`` data it was sent."""
    client = TestSocketClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    try:
        await client.connect(url, auth=auth, transports=transports or ["websocket"], wait_timeout=5, **kw)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        await client.disconnect()
        raise AssertionError(f"connection with auth={auth!r} was accepted")
    finally:
        await client.shutdown()
    assert errors, "refused without a connect_error event"
    return errors[0]
