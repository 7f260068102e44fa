"""What delivery guarantees cost: fan-out with recovery and history on against off, recovery time, memory per event.

``python -m bench.recovery [--repeat 2] [--messages 60] [--bursts 5]``

Three settings, each in memory (one server, 1,000 clients) and on Redis (two
servers sharing a ``redis-server``, 500 clients each, every broadcast sent by
the first), under the Node load generator of ``python -m bench``, interleaved:
``off``; ``recovery`` (``EVENTBUS_RECOVERY_WINDOW=120``); ``recovery+history``
(the room also keeps 100 events). Prints deliveries/s (medians of the bursts)
and each setting's ratio to ``off`` in the same run; then the time one client
takes to get 1,000 missed events back on reconnect, and the memory each
retained event costs in the in-memory logs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import tracemalloc
from typing import Any

from bench.processes import Redis
from bench.scenarios import side_by_side_bursts

CLIENTS = 1000
SETTINGS = {"off": ("0", "0"), "recovery": ("120", "0"), "recovery+history": ("120", "100")}


def measure(setting: str, redis_url: str | None, messages: int, bursts: int) -> float:
    """Median deliveries/s of ``bursts`` bursts of ``messages`` broadcasts."""
    window, history = SETTINGS[setting]
    os.environ["EVENTBUS_RECOVERY_WINDOW"] = window  # read by the server processes' EventBusSettings
    os.environ["BENCH_ROOM_HISTORY"] = history
    os.environ["EVENTBUS_MAX_CONNECTIONS_PER_USER"] = str(CLIENTS)  # the load generator's clients share one user
    runs = side_by_side_bursts(redis_url, CLIENTS, messages, bursts)
    if not all(run["clients_missing"] == 0 and run["clients_duplicated"] == 0 for run in runs):
        raise RuntimeError(f"{setting} ({'redis' if redis_url else 'memory'}) lost or duplicated deliveries")
    return float(statistics.median(run["deliveries_per_s"] for run in runs))


async def recovery_time(redis_url: str | None, missed: int = 1000) -> float:
    """Seconds from a dropped client's reconnect to its last missed event (``eventbus.testing`` client, websocket)."""
    from bench.server import SECRET, BenchEvent, BenchRoom
    from eventbus import EventBus, JWTAuth
    from eventbus.testing import SocketTestClient, serve

    auth = JWTAuth(secret=SECRET)
    options: dict[str, Any] = {}
    if redis_url:
        options = {"redis_url": redis_url, "redis_channel": f"bench-recovery-{os.getpid()}"}
    bus = EventBus(auth=auth, rooms=[BenchRoom], recovery_window=120, **options)
    async with serve(bus.asgi_app()) as url:
        client = await SocketTestClient(url, token=auth.issue("bench")).connect()
        await client.call("join_bench", {"key": "a"})
        await client.drop()
        for seq in range(missed):
            await bus.broadcast(BenchEvent(seq=seq, t=0, rooms=["bench:a"], text="x" * 32))
        start = time.perf_counter()
        await client.reconnect()
        await client.inbox.wait_for("bench", missed, timeout=60)
        elapsed = time.perf_counter() - start
        await client.close()
    return elapsed


def memory_per_event(count: int = 20_000) -> tuple[float, float]:
    """Bytes per packet in the recovery log and per event in a room's history (payload included)."""
    from bench.server import BenchRoom
    from eventbus.history.recovery import MemoryRecoveryLog
    from eventbus.history.rooms import MemoryRoomHistory

    class Kept(BenchRoom, prefix="bench_kept", history=count):
        pass

    tracemalloc.start()
    log, history = MemoryRecoveryLog(120, max_packets=count), MemoryRoomHistory()
    before = tracemalloc.get_traced_memory()[0]
    for seq in range(count):
        log.append("/", "bench", [{"seq": seq, "t": 0.0, "rooms": ["bench:a"], "text": "x" * 32}], ["bench:a"])
    middle = tracemalloc.get_traced_memory()[0]
    for seq in range(count):
        history.append(Kept, "bench_kept:a", "bench", {"seq": seq, "t": 0.0, "rooms": ["bench:a"], "text": "x" * 32})
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (middle - before) / count, (after - middle) / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions of every setting")
    parser.add_argument("--messages", type=int, default=60, help="broadcasts per burst")
    parser.add_argument("--bursts", type=int, default=5)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    with Redis() as store:
        for _ in range(args.repeat):
            for setting in SETTINGS:
                for mode, url in (("memory", None), ("redis", store.url)):
                    results.setdefault((setting, mode), []).append(measure(setting, url, args.messages, args.bursts))
        recovered = {mode: asyncio.run(recovery_time(url)) for mode, url in (("memory", None), ("redis", store.url))}
    print(f"{CLIENTS} clients, {args.messages} broadcasts per burst, {args.bursts} bursts x {args.repeat} repeats")
    print("| setting | memory deliveries/s | vs off | Redis deliveries/s | vs off |\n|---|---:|---:|---:|---:|")
    off = {mode: statistics.median(results[("off", mode)]) for mode in ("memory", "redis")}
    for setting in SETTINGS:
        rates = {mode: statistics.median(results[(setting, mode)]) for mode in ("memory", "redis")}
        print(
            f"| {setting} | {rates['memory']:,.0f} | {rates['memory'] / off['memory']:.2f}x "
            f"| {rates['redis']:,.0f} | {rates['redis'] / off['redis']:.2f}x |"
        )
    log_bytes, history_bytes = memory_per_event()
    print(
        f"recovering 1,000 missed events: {recovered['memory'] * 1000:.0f} ms in memory, "
        f"{recovered['redis'] * 1000:.0f} ms on Redis (reconnect to last event, Python test client)"
    )
    print(
        f"memory per retained event: {log_bytes:.0f} B in the recovery log, {history_bytes:.0f} B in a room's history"
    )


if __name__ == "__main__":
    main()
