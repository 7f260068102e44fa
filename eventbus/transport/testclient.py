"""The test client's python-socketio/engine.io subclasses: a quick close and a drop that looks like a killed process.

Part of the seam (`eventbus.transport`): it overrides ``socketio.AsyncClient._engineio_client_class``,
``_handle_connect`` and ``_handle_event``, and reads python-engineio client internals (``read_loop_task``,
``write_loop_task``, ``queue``, ``http``, ``request_timeout``, ``current_transport``, ``_trigger_event``, and overrides
``_reset`` and ``_send_request``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import engineio
import socketio

from events._extras import require

__all__ = ["QuickCloseClient", "QuickCloseEngineIO"]


class QuickCloseEngineIO(engineio.AsyncClient):  # type: ignore[misc]
    async def disconnect(self, abort: bool = False, reason: Any = None) -> None:
        # Not waiting for the read loop: python-engineio answers a polling client's CLOSE without ending the client's
        # pending long-poll, so a clean disconnect (also the one after a refused connect) would wait ping_interval +
        # ping_timeout (45 s). `_reset` ends the long-poll instead.
        await super().disconnect(abort=True, reason=reason)

    async def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = await super()._send_request(method, url, *args, **kwargs)
        if method == "POST" and response is not None and not isinstance(response, str):
            # python-engineio never reads a POST's reply ("ok"): its connection stays taken until the whole reply has
            # come, and a session closed meanwhile (the disconnect right after POSTing CLOSE) leaves it unreleased,
            # which warns when collected. Reading the reply gives the connection back to the pool now.
            from aiohttp import ClientError  # the client extra's, installed since this client exists

            with contextlib.suppress(ClientError):
                await response.read()
        return response

    async def _reset(self) -> None:
        # python-engineio closes the aiohttp session here with a polling client's requests still in flight: the POST
        # of the CLOSE packet and the long-poll. A request whose session closes under it leaves its connection
        # unreleased, which warns when collected (after most refused polling connects under Python 3.13), and a POST
        # started on a closed session fails outside python-engineio's error handling. So the POST finishes, then the
        # long-poll is cancelled and has ended, then the session closes.
        current = asyncio.current_task()
        write_loop, read_loop = self.write_loop_task, self.read_loop_task
        if self.current_transport == "polling":
            if write_loop is not None and write_loop is not current and not write_loop.done():
                await asyncio.wait([write_loop], timeout=self.request_timeout)
            if read_loop is not None and read_loop is not current and not read_loop.done():
                read_loop.cancel()
                await asyncio.wait([read_loop])
        await super()._reset()

    async def drop(self) -> None:
        """Vanish like a killed process: no CLOSE packet, no more pongs, the TCP connection closes."""
        self.state = "disconnected"  # the loops stop: no pong, no further poll, no CLOSE packet
        if self.current_transport == "websocket" and self.http is not None:
            await self.http.close()  # the TCP connection closes under the websocket
        await self.queue.put(None)  # wakes the write loop so it ends
        # A long-poll in flight is let finish (the server answers it within its ping interval): closing the session
        # under it instead leaves aiohttp connections unreleased, which warn when collected.
        tasks = [task for task in (self.read_loop_task, self.write_loop_task) if task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.ping_interval + self.ping_timeout + 5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._trigger_event("disconnect", "dropped", run_async=False)
        await self._reset()


class QuickCloseClient(socketio.AsyncClient):  # type: ignore[misc]
    """python-socketio's client, plus Socket.IO 4.6+'s connection state recovery as socket.io-client does it.

    It keeps the ``pid`` of each namespace's CONNECT reply and the last offset
    (the last string argument of an event, once a pid is known, taken off the
    arguments the handlers get); `recovery_auth` is what to merge into the auth
    of the next connect, and ``recovered[namespace]`` says whether that worked.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # At construction, not at the first connect: a server-only install says what is missing before any I/O.
        require("aiohttp", "client", feature="eventbus.testing's Socket.IO client")
        super().__init__(*args, **kwargs)
        self.pids: dict[str, str] = {}
        self.offsets: dict[str, str] = {}
        self.recovered: dict[str, bool] = {}
        self._early: dict[str, list[tuple[Any, list[Any]]]] = {}

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return QuickCloseEngineIO

    def recovery_auth(self, namespace: str = "/") -> dict[str, str]:
        """``{"pid": ..., "offset": ...}`` for the next connect to ``namespace`` (empty before any pid)."""
        pid = self.pids.get(namespace)
        if pid is None:
            return {}
        offset = self.offsets.get(namespace)
        return {"pid": pid} if offset is None else {"pid": pid, "offset": offset}

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        namespace = namespace or "/"
        pid = data.get("pid") if isinstance(data, dict) else None
        self.recovered[namespace] = pid is not None and self.pids.get(namespace) == pid
        if isinstance(pid, str):
            self.pids[namespace] = pid
        await super()._handle_connect(namespace, data)
        for id_, early in self._early.pop(namespace or "/", []):
            await super()._handle_event(namespace, id_, early)

    async def _handle_event(self, namespace: str | None, id: Any, data: list[Any]) -> None:
        key = namespace or "/"
        if key in self.pids and len(data) > 1 and isinstance(data[-1], str):
            self.offsets[key] = data[-1]
            data = data[:-1]
        if key not in self.namespaces:
            # Sent before the CONNECT reply (a recovered connection's missed events): held until it, in order,
            # as socket.io-client does.
            self._early.setdefault(key, []).append((id, data))
            return
        await super()._handle_event(namespace, id, data)
