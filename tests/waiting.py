"""Bounded waiting for conditions that have no event to await (a socket closed by another process)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 10) -> None:
    """Poll ``condition`` (sync or async) until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
