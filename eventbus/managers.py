"""Choosing python-socketio's client manager: in memory for one process, Redis pub/sub for several."""

from __future__ import annotations

import socketio


def client_manager(redis_url: str | None, *, channel: str) -> socketio.AsyncManager | None:
    """The manager for ``redis_url`` (``None``: python-socketio's default in-memory manager)."""
    if not redis_url:
        return None
    return socketio.AsyncRedisManager(redis_url, channel=channel)
