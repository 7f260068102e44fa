"""The app test_multiprocess.py runs under ``uvicorn --workers 2``, its settings from the environment."""

from __future__ import annotations

import os
from typing import Any

from eventbus import EventBus

bus = EventBus()  # EVENTBUS_METRICS, EVENTBUS_JWT_SECRET from the environment


async def pid(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers any other HTTP request with the worker's process id."""
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


app = bus.asgi_app(other_asgi_app=pid)
