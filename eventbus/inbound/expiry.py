"""Ending connections whose token expires: one timer per authenticated connection, kept and cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

    from events import User


class TokenExpiry:
    """Calls ``expire(sid)`` when a connection's token reaches its ``exp`` claim plus ``leeway`` seconds.

    Example:
        >>> from events import User
        >>> async def end_session(sid: str) -> None: ...
        >>> expiry = TokenExpiry(end_session, leeway=5)
        >>> expiry.schedule("sid1", User(id="alice"))  # a token without a numeric exp sets no timer
    """

    def __init__(self, expire: Callable[[str], Coroutine[Any, Any, None]], *, leeway: float = 0) -> None:
        self._expire = expire
        self.leeway = leeway
        # A timer per connection until its token expires, then the task that ends it: a timer costs a fraction of
        # a sleeping task's memory, which the benchmark's bytes per idle connection showed.
        self._pending: dict[str, asyncio.TimerHandle | asyncio.Task[None]] = {}

    def schedule(self, sid: str, user: User) -> None:
        """Start the timer of ``sid`` from its user's ``exp`` claim."""
        exp = user.claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        delay = max(0.0, exp + self.leeway - time.time())
        self._pending[sid] = asyncio.get_running_loop().call_later(delay, self._start, sid)

    def cancel(self, sid: str) -> None:
        """Stop the timer of ``sid`` (a disconnect), unless it is the one running: it is disconnecting it."""
        pending = self._pending.pop(sid, None)
        if pending is not None and pending is not asyncio.current_task():
            pending.cancel()

    async def cancel_all(self) -> None:
        """Stop every timer and wait for the tasks already ending a connection (shutdown)."""
        pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            item.cancel()
        tasks = [item for item in pending if isinstance(item, asyncio.Task)]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._pending)

    def _start(self, sid: str) -> None:
        self._pending[sid] = asyncio.create_task(self._expire(sid), name=f"eventbus-expiry-{sid}")
