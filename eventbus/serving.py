"""Serving a bus under uvicorn with the options the benchmark measured as fastest (``bench/``, docs/performance.md).

uvicorn's own defaults suit HTTP apps; for a Socket.IO fan-out two of them cost:

* ``ws_per_message_deflate=True``: every browser offers permessage-deflate, so
  uvicorn compresses each frame for each recipient (the same bytes a thousand
  times) and keeps a zlib context per connection;
* ``loop="auto"`` already picks uvloop when it is installed (``uvicorn[standard]``
  brings it on CPython); it is asked for by name here so that a missing uvloop
  is visible in the options rather than silent.

One more is the interpreter's, not uvicorn's: the garbage collector's first
threshold (`gc_threshold`, which `EventBus` applies while it runs).
"""

from __future__ import annotations

import gc
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


_gc_holders: list[tuple[int, int]] = []
"""(threshold set, threshold it replaced) of each `gc_threshold` held, oldest first."""


def gc_threshold(threshold: int) -> None:
    """Raise the garbage collector's first threshold to ``threshold`` (never lower it) until `release_gc_threshold`.

    CPython runs a young collection whenever the GC-tracked objects allocated (net
    of those freed) since the last one pass ``gc.get_threshold()[0]``, 700. A server
    with a thousand busy connections reads a frame from hundreds of them in one loop
    turn, and each holds a few such objects (a task, its coroutine, a dict) until it is
    answered: the count passes 700 several times a turn, each collection walks the
    objects of every request in flight and promotes them, and the promoted ones bring
    on full collections, which walk every connection's state (0.2 s each at 1,000
    connections). Most of it is work for nothing: these objects are freed by their
    reference counts a moment later. A higher threshold leaves the collector to the
    reference cycles it exists for, at the cost of up to ``threshold`` of them
    waiting longer to be freed.

    Calls nest: the interpreter's threshold comes back with the last release, unless
    something else changed it meanwhile.

    Example:
        >>> before = gc.get_threshold()[0]
        >>> gc_threshold(before + 1000)
        >>> gc.get_threshold()[0] - before
        1000
        >>> release_gc_threshold()
        >>> gc.get_threshold()[0] == before
        True
    """
    current, *older = gc.get_threshold()
    wanted = max(current, threshold)
    gc.set_threshold(wanted, *older)
    _gc_holders.append((wanted, current))


def release_gc_threshold() -> None:
    """Undo the latest `gc_threshold`: back to the threshold it replaced when nothing changed it since."""
    if not _gc_holders:
        return
    wanted, replaced = _gc_holders.pop()
    current, *older = gc.get_threshold()
    if current == wanted:
        gc.set_threshold(replaced, *older)
