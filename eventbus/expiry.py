"""Ending connections whose token expires: one timer per authenticated connection, kept and cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from events import User


class TokenExpiry:
    """Calls ``expire(sid)`` when a connection's token reaches its ``exp`` claim plus ``leeway`` seconds.

    Example:
        >>> expiry = TokenExpiry(end_session, leeway=5)  # doctest: +SKIP
        >>> expiry.schedule(sid, user)  # a token without a numeric exp sets no timer  # doctest: +SKIP
    """

    def __init__(self, expire: Callable[[str], Awaitable[None]], *, leeway: float = 0) -> None:
        self._expire = expire
        self.leeway = leeway
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def schedule(self, sid: str, user: User) -> None:
        """Start the timer of ``sid`` from its user's ``exp`` claim."""
        exp = user.claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        delay = max(0.0, exp + self.leeway - time.time())
        self._tasks[sid] = asyncio.create_task(self._run(sid, delay), name=f"eventbus-expiry-{sid}")

    def cancel(self, sid: str) -> None:
        """Stop the timer of ``sid`` (a disconnect), unless it is the one running: it is disconnecting it."""
        task = self._tasks.pop(sid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def cancel_all(self) -> None:
        """Stop every timer and wait for them (shutdown)."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)

    async def _run(self, sid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._expire(sid)
