"""A burst of 10,000 connects against one server process: ``make test-faults``, outside ``make test``.

The Node load process (`tests/js/load.mjs`, burst mode) connects 10,000 socket.io-client connections on
127.0.0.1, 200 at a time, for 96 users, and holds each one it gets; ``EVENTBUS_MAX_CONNECTIONS_PER_USER`` is
100, so exactly 400 are refused with ``too_many_connections``. Meanwhile three healthy clients receive
broadcasts: their latency during the burst is compared with their latency before it, as a ratio that is
printed, never asserted. Once the burst's connections close, ``connection_count()``, file descriptors, tasks
and every per-connection state count must return to what they were before it.
"""

from __future__ import annotations

import asyncio
import pathlib
import statistics
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests import soak
from tests.clients import Healthy, JSLoad, PyClient
from tests.conftest import SECRET
from tests.e2e.cluster import ServerProcess, environment

pytestmark = [pytest.mark.faults, pytest.mark.node, pytest.mark.timeout(1800)]

CONNECTS = 10_000
USERS = 96
LIMIT = 100
TEAM = "healthy"


class Pacer:
    """Ten ticks to the healthy clients' room every 0.1 s, until stopped; ``mark`` splits their latencies."""

    def __init__(self, http: httpx.AsyncClient, healthy: list[Healthy]) -> None:
        self.http = http
        self.healthy = healthy
        self.sent = 0
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        while not self.stopped.is_set():
            op = {"op": "blast", "source": "s", "start": self.sent, "count": 10, "pad": 100, "teams": [TEAM]}
            assert (await self.http.post("/ops", json={"ops": [op]})).json() == [{"ok": True}]
            self.sent += 10
            await asyncio.sleep(0.1)

    def mark(self) -> int:
        return min(len(h.latencies) for h in self.healthy)


def latency(healthy: list[Healthy], start: int, end: int) -> dict[str, float]:
    """Median and 99th percentile, in milliseconds, of the ticks ``start`` to ``end`` of every healthy client."""
    samples = sorted(value for h in healthy for value in h.latencies[start:end])
    return {"median_ms": 1000 * statistics.median(samples), "p99_ms": 1000 * samples[int(0.99 * (len(samples) - 1))]}


async def test_a_burst_of_10000_connects_is_bounded_per_user_and_leaves_nothing_behind(
    stack: AsyncExitStack, tmp_path: pathlib.Path
) -> None:
    env = environment(jwt_secret=SECRET, max_connections_per_user=str(LIMIT), ping_interval="10", ping_timeout="20")
    server = await ServerProcess("burst", env, tmp_path / "server.log").start()
    stack.push_async_callback(server.stop)
    http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))
    # The baseline follows a first connection that has left: the bus starts some background tasks on first use.
    first = await PyClient(server.url, token=soak.AUTH.issue("first")).connect()
    await first.close()
    baseline = await soak.settle(http)
    healthy = []
    for i in range(3):
        client = await PyClient(server.url, token=soak.AUTH.issue(f"healthy{i}")).connect()
        stack.push_async_callback(client.close)
        assert (await client.call("join_team", {"team_id": TEAM}))["ok"]
        healthy.append(Healthy(client))
    pacer = Pacer(http, healthy)
    pacing = asyncio.create_task(pacer.run())

    await asyncio.sleep(5)
    quiet_end = pacer.mark()
    tokens = [soak.AUTH.issue(f"burst{user}") for user in range(USERS)]
    # The excess attempts come last, when the server holds 9,600 connections: on a shared machine their answer can
    # take longer than socket.io-client's default 20 s, which would count a refusal as a timeout.
    options = {"url": server.url, "tokens": tokens, "connects": CONNECTS, "concurrency": 200, "connectTimeout": 180_000}
    load = JSLoad({"mode": "burst", **options})
    stack.push_async_callback(load.close)
    await load.start()
    burst = await load.message(900)
    burst_end = pacer.mark()
    held = await soak.stats(http)
    await load.command("close")
    assert (await load.message(120))["type"] == "closed"
    closed_at = time.monotonic()
    # Once Socket.IO has let every burst connection go, what python-engineio still holds is its closed sockets,
    # each kept until its ping task wakes (up to EVENTBUS_PING_INTERVAL): known upstream behaviour, measured here.
    # Closing 9,600 connections at once can hold the server's event loop for longer than a /stats request waits.
    unanswered = 0.0
    while True:
        asked = time.monotonic()
        try:
            just_closed = await soak.stats(http)
        except httpx.TimeoutException:
            unanswered = max(unanswered, time.monotonic() - asked)
            continue
        if just_closed["connections"] <= len(healthy):
            break
        assert time.monotonic() - closed_at < 600, just_closed["connections"]
        await asyncio.sleep(0.5)
    released_in = time.monotonic() - closed_at
    pacer.stopped.set()
    await pacing

    quiet, loaded = latency(healthy, 0, quiet_end), latency(healthy, quiet_end, burst_end)
    # The healthy clients leave too: every counter is compared with the baseline taken before anyone connected.
    for h in healthy:
        await h.client.close()
    after = await soak.settle(http, baseline, timeout=300)
    settled_in = time.monotonic() - closed_at  # engine.io's closed sockets gone, tasks and fds at the baseline
    figures: dict[str, Any] = {
        "burst": burst,
        "held": {key: held[key] for key in ("connections", "fds", "tasks", "rss")},
        "latency_quiet": quiet,
        "latency_during_burst": loaded,
        "median_ratio": loaded["median_ms"] / quiet["median_ms"],
        "p99_ratio": loaded["p99_ms"] / quiet["p99_ms"],
        "released_in_s": released_in,
        "stats_unanswered_for_s": unanswered,
        "engineio_sockets_retained": just_closed["engineio_sockets"] - len(healthy),
        "settled_in_s": settled_in,
        "baseline": {key: baseline[key] for key in ("connections", "fds", "tasks", "rss")},
        "after": {key: after[key] for key in ("connections", "fds", "tasks", "rss")},
    }
    print(figures)

    assert burst["connected"] == USERS * LIMIT, burst
    assert burst["refused"] == {"too_many_connections": CONNECTS - USERS * LIMIT}, burst
    assert server.log().count("EVENTBUS_MAX_CONNECTIONS_PER_USER") == CONNECTS - USERS * LIMIT
    assert held["connections"] == USERS * LIMIT + len(healthy), held
    assert all(h.seqs == list(range(len(h.seqs))) for h in healthy), "a healthy client missed a tick"
    assert after["connections"] == baseline["connections"], after
    assert not {name: count for name, count in after["state"].items() if count}, after["state"]
    assert after["fds"] <= baseline["fds"], (baseline, after)
    assert after["tasks"] <= baseline["tasks"], (baseline, after)
