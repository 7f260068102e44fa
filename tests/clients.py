"""The real JavaScript socket.io-client, driven from Python; the Python client is ``eventbus.testing``'s."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import time
from typing import Any

from eventbus.testing import Inbox, SocketTestClient, connect_error

PyClient = SocketTestClient
__all__ = ["Healthy", "Inbox", "JSClient", "JSLoad", "PyClient", "connect_error", "lose_replay_after"]

JS_DIR = pathlib.Path(__file__).parent / "js"


class JSClient:
    """The real socket.io-client from npm, run by ``tests/js/harness.mjs`` in a Node process."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        transports: list[str] | None = None,
        headers: dict[str, str] | None = None,
        namespace: str = "/",
        reconnection: bool = False,
    ) -> None:
        self.options = {
            "url": url,
            "namespace": namespace,
            "auth": {"token": token} if token is not None else None,
            "transports": transports or ["websocket"],
            "extraHeaders": headers,
            "reconnection": reconnection,
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

    async def refresh_token(self, token: str) -> None:
        """Set the token the auth callback hands out, then reconnect, as a page does after ``session_expired``."""
        await self._command({"cmd": "set_token", "token": token})
        await self._command({"cmd": "connect"})

    async def drop(self) -> None:
        """Close the engine.io connection, not the socket: what a lost network does to the page."""
        count = len(self.lifecycle())
        await self._command({"cmd": "drop"})
        await self.inbox.wait_for("__lifecycle__", count + 1)

    async def reconnect(self, url: str | None = None) -> dict[str, Any]:
        """Connect again, to ``url`` if given (socket.io-client presents its pid and last offset itself).

        Returns the ``connect`` (or ``connect_error``) message.
        """
        count = len(self.lifecycle())
        await self._command({"cmd": "connect", "url": url})
        await self.inbox.wait_for("__lifecycle__", count + 1, timeout=15)
        return self.lifecycle()[count]

    def lifecycle(self) -> list[dict[str, Any]]:
        """``connect`` / ``connect_error`` / ``disconnect`` messages, in order."""
        return list(self.inbox.events["__lifecycle__"])

    async def kill(self) -> None:
        """SIGKILL the Node process: the connection ends with no goodbye, as when a laptop lid closes."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def close(self) -> None:
        if self.proc is None:
            return
        await end(self.proc, 5)
        if self._reader is not None:
            await self._reader


class JSLoad:
    """Hundreds of real socket.io-client connections in one Node process, run by ``tests/js/load.mjs``.

    ``options`` is the script's configuration (its ``mode``: ``churn`` for the soak, ``burst`` for the
    connection-flood test); `command` sends it a line, `message` reads its next JSON line.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> JSLoad:
        self.proc = await asyncio.create_subprocess_exec(
            *("node", str(JS_DIR / "load.mjs"), json.dumps(self.options)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=JS_DIR,
            env=dict(os.environ),
            limit=2**20,
        )
        return self

    async def command(self, line: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def message(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"tests/js/load.mjs exited with {await self.proc.wait()} (its stderr is above)")
        message: dict[str, Any] = json.loads(line)
        return message

    async def close(self) -> None:
        if self.proc is not None:
            await end(self.proc, 30)


async def end(proc: asyncio.subprocess.Process, timeout: float) -> None:
    """Close a Node script's stdin (its signal to finish), then kill it if it has not exited within ``timeout``."""
    if proc.returncode is not None:
        return
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class Healthy:
    """A python-socketio client that keeps each tick's sequence number and latency (not the tick itself)."""

    def __init__(self, client: PyClient) -> None:
        self.client = client
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        client.sio.on("tick", self._tick)

    def _tick(self, data: dict[str, Any]) -> None:
        self.latencies.append(time.time() - data["sent_at"])
        self.seqs.append(data["seq"])


def lose_replay_after(client: PyClient, kept: int) -> list[Any]:
    """Let only the first ``kept`` events the next connect replays reach ``client``; the rest are lost on the way.

    As when the new connection dies under its replay: the server wrote every replayed packet, the client got a part
    and its offset is the last of that part. Events sent before the CONNECT reply are the replay; once connected,
    events pass again. Returns the lost events' data, in order.
    """
    sio, lost, early = client.sio, [], 0
    handle, connected = sio._handle_event, sio._handle_connect

    async def handle_event(namespace: str | None, id_: Any, data: list[Any]) -> None:
        nonlocal early
        if (namespace or "/") not in sio.namespaces:
            early += 1
            if early > kept:
                lost.append(data)
                return
        await handle(namespace, id_, data)

    async def handle_connect(namespace: str | None, data: Any) -> None:
        del sio._handle_event, sio._handle_connect  # one replay only: the next connects are whole again
        await connected(namespace, data)

    sio._handle_event, sio._handle_connect = handle_event, handle_connect
    return lost
