"""The server process of the multi-process tests: ``uvicorn tests.e2e.app:app``, configured by ``EVENTBUS_*``.

``POST /ops`` with ``{"ops": [...]}`` runs operations on this process's bus
(see `tests.e2e.ops`), so a test can broadcast, join or disconnect from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from eventbus import EventBus
from tests.e2e import ops
from tests.e2e.model import DocRoom, TeamRoom, VaultRoom
from tests.state import state_counts

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
for noisy in ("socketio", "engineio", "uvicorn.access"):
    logging.getLogger(noisy).setLevel(logging.WARNING)

bus = EventBus(rooms=[DocRoom, TeamRoom, VaultRoom])


async def run_ops(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(await ops.run(bus, body["ops"]))


async def stats(request: Request) -> JSONResponse:
    """This process's resident memory and what it holds per connection, for the memory and leak tests."""
    return JSONResponse(
        {
            "rss": rss_bytes(),
            "connections": bus.connection_count(),
            "engineio_sockets": len(bus.sio.eio.sockets),
            "open_sockets": sum(not socket.closed for socket in list(bus.sio.eio.sockets.values())),
            "slow_consumers": bus.send_limits.dropped,
            # Whether the Redis listener's subscription is confirmed (None in memory): the soak times resubscription.
            "redis_subscribed": subscribed.is_set()
            if (subscribed := getattr(bus.sio.manager, "subscribed", None))
            else None,
            "fds": len(os.listdir("/proc/self/fd")),
            "redis_sockets": redis_sockets(),
            "tasks": len(asyncio.all_tasks()),
            "state": state_counts(bus),
            # Pub/sub messages received by kind (control, partition, unserved) with Redis, {} in memory.
            "redis_received": dict(getattr(bus.sio.manager, "received", {})),
            # Reconnects by recovery outcome (recovery.recovered, .too_old, ...) and history joins.
            "delivery": bus.delivery_counts(),
            "queues": [
                [socket.queue.total_bytes, socket.queue.stalled, socket.closed]
                for socket in list(bus.sio.eio.sockets.values())
            ],
        }
    )


def redis_sockets() -> int:
    """This process's TCP connections to Redis (0 without): the soak counts them apart from the other fds.

    redis-py's pools keep every connection they ever opened, so presence operations at once grow them up to
    the peak concurrency and they stay: open file descriptors, but no per-connection leak.
    """
    url = os.environ.get("EVENTBUS_REDIS_URL")
    if not url:
        return 0
    # Every node's port of a redis+cluster:// URL ("host:port,host:port,..."), the one port of any other URL.
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = [node.rpartition(":")[2] if ":" in node else "6379" for node in netloc.split(",")] if netloc else []
    ports = {f"{int(port):04X}" for port in nodes} or {f"{6379:04X}"}
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    with open("/proc/self/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[2].rpartition(":")[2] in ports and row[9] in inodes)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


app = bus.asgi_app(other_asgi_app=Starlette(routes=[Route("/ops", run_ops, methods=["POST"]), Route("/stats", stats)]))
