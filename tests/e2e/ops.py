"""The operations a test asks of a source (a server over HTTP, or an emitter worker over stdin), run the same way.

An operation is a dict such as ``{"op": "broadcast", "event": {"source": "A", "seq": 1, "teams": ["t1"]}}``;
its result is ``{"ok": true}`` or ``{"ok": false, "error": "PublishError: ..."}``.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.model import TickEvent


def call(sender: Any, op: dict[str, Any]) -> Any:
    """Start ``op`` on ``sender`` (an EventBus, Emitter or SyncEmitter): a coroutine for async senders.

    ``"app": "/admin"`` sends through that application (not with `SyncEmitter`); ``notice_user`` sends an
    untyped ``notice`` with ``data``.
    """
    kind = op["op"]
    if "app" in op:
        sender = sender.for_app(op["app"])
    event = TickEvent(**op["event"]) if "event" in op else None
    if kind == "broadcast":
        return sender.broadcast(event)
    if kind == "emit_to_user":
        return sender.emit_to_user(op["user"], event)
    if kind == "emit_to_room":
        return sender.emit_to_room(op["room"], event)
    if kind == "emit_to_all":
        return sender.emit_to_all(event)
    if kind == "fence":
        return sender.emit_to_all("fence", {"source": op["source"]})
    if kind == "join":
        return sender.join_room(op["sid"], op["room"])
    if kind == "leave":
        return sender.leave_room(op["sid"], op["room"])
    if kind == "disconnect":
        return sender.disconnect(op["sid"])
    if kind == "disconnect_user":
        return sender.disconnect_user(op["user"], **({"reason": op["reason"]} if "reason" in op else {}))
    if kind == "notice_user":
        return sender.emit_to_user(op["user"], "notice", op["data"])
    raise ValueError(f"unknown op {kind!r}")


async def blast(bus: Any, op: dict[str, Any]) -> None:
    """``{"op": "blast", "source": "s", "start": 0, "count": 200, "pad": 1000, "teams": [...]}``: numbered broadcasts.

    Each carries ``sent_at`` (this process's clock) and ``pad`` characters, for latency and memory tests.
    """
    pad = "x" * op.get("pad", 0)
    for seq in range(op["start"], op["start"] + op["count"]):
        event = TickEvent(source=op["source"], seq=seq, teams=op["teams"], sent_at=time.time(), pad=pad)
        await bus.broadcast(event)


def failure(exc: Exception) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def run(sender: Any, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``ops`` in order on an async sender; a failure is reported in its result and does not stop the others."""
    results: list[dict[str, Any]] = []
    for op in ops:
        try:
            await (blast(sender, op) if op["op"] == "blast" else call(sender, op))
        except Exception as exc:
            results.append(failure(exc))
        else:
            results.append({"ok": True})
    return results


def run_sync(sender: Any, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``ops`` in order on a `SyncEmitter`, blocking, with no event loop."""
    results: list[dict[str, Any]] = []
    for op in ops:
        try:
            call(sender, op)
        except Exception as exc:
            results.append(failure(exc))
        else:
            results.append({"ok": True})
    return results
