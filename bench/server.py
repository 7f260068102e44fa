"""One benchmarked Python server process: raw python-socketio or the typed `EventBus`, under uvicorn.

Usage: ``python -m bench.server SYSTEM --port PORT [--redis URL] [--channel NAME] [--loop asyncio] [--deflate]
[--asgi-server hypercorn|granian]``

Systems:

* ``raw``: ``socketio.AsyncServer`` and hand-written ``sio.emit(..., to=rooms)``, the baseline;
* ``typed``: ``EventBus`` and ``bus.broadcast(BenchEvent(...))`` (fast path on, the default);
* ``typed-nofast``: the same with ``EVENTBUS_FAST_EMIT=false``, to show what the fast path alone is worth.

Both join rooms through a ``join_bench`` event with an ack (the typed one through
`EventBus`'s validated join handler), and both are served with the same uvicorn
options, `eventbus.serving.uvicorn_options`. ``POST /bench/emit`` runs a burst or a
paced series of emits and answers when the last emit returned; ``GET /bench/stats`` gives the
typed server's Redis counters (``python -m bench.sharding``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import socketio
import uvicorn
from pydantic import BaseModel

from eventbus import ClientEvent, Context, Event, EventBus, EventBusSettings, JWTAuth, Room
from eventbus.serving import uvicorn_options

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
"""Signs the load generator's token: the typed server authenticates every connection, as in production."""

Emit = Callable[[int, float, list[str], str], Awaitable[None]]
Stats = Callable[[], dict[str, Any]]


class BenchRoom(Room, prefix="bench", public=True, history=int(os.environ.get("BENCH_ROOM_HISTORY", "0"))):
    """``bench:{key}``: any connection may join; keeps ``BENCH_ROOM_HISTORY`` events (``python -m bench.recovery``)."""

    key: str


class BenchEvent(Event, name="bench"):
    """The benchmark message: ``t`` is when the application meant to send it, in epoch milliseconds."""

    seq: int
    t: float
    rooms: list[str]
    text: str

    def broadcast_to(self) -> list[str]:
        return self.rooms


class EchoAck(BaseModel):
    seq: int


class Echo(ClientEvent, name="echo", ack=EchoAck):
    """The client-to-server scenario: a small typed message answered with an ack."""

    seq: int
    text: str


def raw_server(redis_url: str | None) -> tuple[socketio.AsyncServer, Emit]:
    """The baseline, written the way python-socketio's documentation shows."""
    manager = socketio.AsyncRedisManager(redis_url, channel="bench") if redis_url else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)

    @sio.on("join_bench")  # type: ignore[untyped-decorator]
    async def join(sid: str, payload: dict[str, str]) -> dict[str, Any]:
        room = f"bench:{payload['key']}"
        await sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    @sio.on("echo")  # type: ignore[untyped-decorator]
    async def echo(sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "data": {"seq": payload["seq"]}}

    async def emit(seq: int, t: float, rooms: list[str], text: str) -> None:
        payload = {"seq": seq, "t": t, "rooms": rooms, "text": text}
        await sio.emit("bench", payload, to=rooms[0] if len(rooms) == 1 else rooms)

    return sio, emit


def typed_server(redis_url: str | None, *, fast_emit: bool, channel: str = "bench") -> tuple[EventBus, Emit]:
    """Our library, written the way the docs show."""
    # The rate limiter runs (its cost is part of the typed path) but never refuses: the bench measures throughput.
    # Every load-generator client is the same user: the per-user connection limit is lifted accordingly.
    settings = EventBusSettings(
        fast_emit=fast_emit,
        redis_channel=channel,
        rate_limit=1e9,
        rate_burst=10**9,
        max_connections_per_user=10**6,
    )
    bus = EventBus(auth=JWTAuth(secret=SECRET), rooms=[BenchRoom], redis_url=redis_url, settings=settings)

    @bus.on(Echo)
    async def echo(ctx: Context, message: Echo) -> EchoAck:
        return EchoAck(seq=message.seq)

    async def emit(seq: int, t: float, rooms: list[str], text: str) -> None:
        await bus.broadcast(BenchEvent(seq=seq, t=t, rooms=rooms, text=text))

    return bus, emit


async def emit_series(emit: Emit, count: int, rooms: list[str], text: str, rate: float | None) -> dict[str, Any]:
    """``count`` emits back to back, or ``rate`` per second on a fixed schedule.

    Each message carries the time it was meant to leave: the start of a burst, or
    its slot in the paced schedule. Latency is measured from there, so time spent
    waiting for an earlier ``emit`` call to return counts (no coordinated omission).
    """
    started = time.perf_counter()
    wall_started = time.time() * 1000
    for seq in range(count):
        offset = seq / rate if rate else 0.0
        if rate:
            delay = started + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await emit(seq, wall_started + offset * 1000, rooms, text)
    return {"emitted": count, "seconds": time.perf_counter() - started}


def redis_stats(bus: EventBus) -> dict[str, Any]:
    """Pub/sub messages this process received by kind, the partition channels it is subscribed to, and how many
    dedicated channels (``user:`` rooms by default)."""
    manager = bus.sio.manager
    subscriptions = getattr(manager, "subscriptions", None)
    active = subscriptions.active if subscriptions is not None else frozenset()
    partitions = set(subscriptions.partitions.names) if subscriptions is not None else set()
    return {
        "received": dict(getattr(manager, "received", {})),
        "partitions": sorted(active & partitions),
        "dedicated_channels": len(active - partitions),
    }


def control_app(emit: Emit, stats: Stats | None = None) -> Any:
    """A bare ASGI app for ``/bench/*``, so the control path costs the servers nothing they would not pay anyway."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/bench/emit":
            args = json.loads(body)
            result = await emit_series(emit, args["count"], args["rooms"], args["text"], args.get("rate"))
            status, reply = 200, json.dumps(result).encode()
        elif scope["path"] == "/bench/stats" and stats is not None:
            status, reply = 200, json.dumps(stats()).encode()
        elif scope["path"] == "/bench/ping":
            status, reply = 200, b'{"ok":true}'
        else:
            status, reply = 404, b"{}"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": reply})

    return app


async def _hypercorn(app: Any, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.backlog = 2048  # uvicorn's default: 1,000 clients connect at once
    config.loglevel = "WARNING"
    await serve(app, config, mode="asgi")


async def _granian(app: Any, port: int) -> None:
    # In-process (granian.server.embed), so that the server's CPU is this process's, as for uvicorn; the Rust
    # runtime's threads are counted with it. The CLI (`granian --interface asgi`) runs the same worker in a child.
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server as Granian

    server = Granian(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, backlog=2048, log_level=LogLevels.warning
    )
    await server.serve()


OTHER_ASGI_SERVERS: dict[str, Callable[[Any, int], Coroutine[Any, Any, None]]] = {
    "hypercorn": _hypercorn,
    "granian": _granian,
}
"""What ``--asgi-server`` picks besides uvicorn (served by `uvicorn.run` with `uvicorn_options`): issue 18."""


def _loop_factory(loop: str | None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as `uvicorn_options` picks for uvicorn, so that the servers differ in nothing else."""
    if loop == "asyncio" or importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop

    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("system", choices=["raw", "typed", "typed-nofast"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", help="Redis URL: use the Redis manager")
    parser.add_argument("--channel", default="bench", help="the typed server's Redis channel")
    parser.add_argument("--loop", help="override the event loop (default: uvloop when installed)")
    parser.add_argument("--deflate", action="store_true", help="accept permessage-deflate (off by default)")
    parser.add_argument("--ws", help="override uvicorn's websocket implementation")
    parser.add_argument(
        "--asgi-server", choices=["uvicorn", *OTHER_ASGI_SERVERS], default="uvicorn", help="the ASGI server (uvicorn)"
    )
    args = parser.parse_args()
    app: Any
    if args.system == "raw":
        sio, emit = raw_server(args.redis)
        app = socketio.ASGIApp(sio, other_asgi_app=control_app(emit))
    else:
        # As an application serves it: asgi_app()'s lifespan starts the bus (Redis subscribed before serving).
        bus, emit = typed_server(args.redis, fast_emit=args.system == "typed", channel=args.channel)
        app = bus.asgi_app(other_asgi_app=control_app(emit, partial(redis_stats, bus)))
    overrides: dict[str, Any] = {"ws_per_message_deflate": args.deflate}
    if args.loop:
        overrides["loop"] = args.loop
    if args.ws:
        overrides["ws"] = args.ws
    if args.asgi_server == "uvicorn":
        options = uvicorn_options(**overrides)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on", **options)
    else:
        with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
            runner.run(OTHER_ASGI_SERVERS[args.asgi_server](app, args.port))


if __name__ == "__main__":
    main()
