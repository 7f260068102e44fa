"""Serving a bus under uvicorn with the options the benchmark measured as fastest (``bench/``, docs/performance.md).

uvicorn's own defaults suit HTTP apps; for a Socket.IO fan-out two of them cost:

* ``ws_per_message_deflate=True``: every browser offers permessage-deflate, so
  uvicorn compresses each frame for each recipient (the same bytes a thousand
  times) and keeps a zlib context per connection;
* ``loop="auto"`` already picks uvloop when it is installed (``uvicorn[standard]``
  brings it on CPython); it is asked for by name here so that a missing uvloop
  is visible in the options rather than silent.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import uvicorn


def uvicorn_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: our defaults, then ``overrides``.

    Example:
        >>> uvicorn_options(port=9000)["ws_per_message_deflate"]
        False
    """
    options: dict[str, Any] = {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "ws_per_message_deflate": False,
    }
    options.update(overrides)
    return options


def run(app: Any, *, host: str = "127.0.0.1", port: int = 8000, **overrides: Any) -> None:
    """Serve ``app`` (``bus.asgi_app(...)``) with uvicorn and `uvicorn_options`, until interrupted.

    From the uvicorn command line the same defaults are
    ``uvicorn app:app --loop uvloop --ws-per-message-deflate false``.

    Example:
        >>> run(bus.asgi_app(), port=8000)  # serves until Ctrl-C: run by tests/test_docstrings.py  # doctest: +SKIP
    """
    uvicorn.run(app, host=host, port=port, **uvicorn_options(**overrides))
