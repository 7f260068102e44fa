"""The test client's python-socketio/engine.io subclasses: a quick close and a drop that looks like a killed process.

Part of the seam (`eventbus.transport`): it overrides ``socketio.AsyncClient._engineio_client_class``,
``_handle_connect`` and ``_handle_event``, and reads python-engineio client internals (``read_loop_task``,
``write_loop_task``, ``queue``, ``http``, ``_trigger_event``, ``_reset``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio

from events._extras import require

__all__ = ["QuickCloseClient", "QuickCloseEngineIO"]


class QuickCloseEngineIO(engineio.AsyncClient):  # type: ignore[misc]
    # python-engineio answers a polling client's CLOSE without ending the client's pending long-poll, so a
    # clean disconnect (also the one after a refused connect) waits ping_interval + ping_timeout (45 s).
    async def disconnect(self, abort: bool = False, reason: Any = None) -> None:
        read_loop = self.read_loop_task
        polling = self.current_transport == "polling"
        await super().disconnect(abort=True, reason=reason)
        if read_loop is not None and polling:
            read_loop.cancel()

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
