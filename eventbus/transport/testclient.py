"""The test client's python-socketio/engine.io subclasses: a quick close and a drop that looks like a killed process.

Part of the seam (`eventbus.transport`): it overrides ``socketio.AsyncClient._engineio_client_class``
and reads python-engineio client internals (``read_loop_task``, ``write_loop_task``, ``queue``,
``http``, ``_trigger_event``, ``_reset``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio

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
    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return QuickCloseEngineIO
