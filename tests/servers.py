"""A real uvicorn server on a free 127.0.0.1 port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from eventbus.testing import serve as serving

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThreadedServer:
    """uvicorn in a thread with its own loop, for synchronous tests (hypothesis) that need one live server.

    ``run(coro)`` executes a coroutine on the server's loop, e.g. ``server.run(bus.emit_to_user(...))``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="uvicorn-test-server", daemon=True)
        self.url = ""

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        # engine.io leaves per-socket ping tasks behind after uvicorn stops; end them before the loop closes.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serving(self.app) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("test server did not start within 15 s")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
