"""What connection state recovery costs on a Redis Cluster: publishes with recovery on against off, and memory.

``python -m bench.cluster_recovery [--repeat 3] [--messages 2000]``

On a local Redis Cluster (`devtools.redis_cluster`: three masters, one replica
each), an `Emitter` broadcasts ``--messages`` events to rooms spread over the 64
partitions, one at a time (the latency of a publish) and 32 at once (throughput),
with ``EVENTBUS_RECOVERY_WINDOW`` 0 (one SPUBLISH) and 120 (one script per channel:
XADD to the channel's recovery stream, then SPUBLISH), interleaved, ``--repeat``
times; prints medians and the ratio to off in the same run, with the Redis CPU
per publish (``INFO commandstats``: ``spublish`` off, ``eval`` with recovery,
summed over the masters). Then the Redis memory
of a recovery stream entry, and the memory of a connection's ring of sent packets
(`eventbus.history.channels.SentRing`, full) in the process and in its saved session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import tempfile
import time
import tracemalloc
from typing import Any

from devtools.redis_cluster import RedisClusterServers

SETTINGS = {"off": 0.0, "recovery": 120.0}
ROOMS = 256
IN_FLIGHT = 32


async def publishes(url: str, channel: str, window: float, messages: int) -> tuple[float, float]:
    """Microseconds per publish one at a time, and publishes/s with `IN_FLIGHT` at once (2 x ``messages`` sent)."""
    from bench.server import BenchEvent
    from eventbus import Emitter, EventBusSettings

    settings = EventBusSettings(redis_url=url, redis_channel=channel, recovery_window=window)
    async with Emitter(settings=settings) as emitter:

        def event(seq: int) -> BenchEvent:
            return BenchEvent(seq=seq, t=0, rooms=[f"bench:{seq % ROOMS}"], text="x" * 32)

        for seq in range(100):  # connections to every master, scripts loaded
            await emitter.broadcast(event(seq))
        start = time.perf_counter()
        for seq in range(messages):
            await emitter.broadcast(event(seq))
        latency = (time.perf_counter() - start) / messages * 1e6
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one(seq: int) -> None:
            async with slots:
                await emitter.broadcast(event(seq))

        start = time.perf_counter()
        await asyncio.gather(*(one(seq) for seq in range(messages)))
        rate = messages / (time.perf_counter() - start)
    return latency, rate


def redis_usec(cluster: RedisClusterServers, command: str, *, reset: bool = False) -> int:
    """Microseconds the masters spent in ``command`` since the last reset (``INFO commandstats``)."""
    client = cluster.client()
    if reset:
        client.config_resetstat(target_nodes="primaries")
        return 0
    stats = client.info("commandstats", target_nodes="primaries")
    return sum(int(node.get(f"cmdstat_{command}", {}).get("usec", 0)) for node in stats.values())


def stream_bytes(cluster: RedisClusterServers, channel: str) -> float:
    """Redis memory per recovery stream entry over every channel's stream (``MEMORY USAGE``)."""
    client = cluster.client()
    keys = list(client.scan_iter(match=f"{channel}:recovery:*:stream", count=1000, target_nodes="all"))
    used = sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)
    entries = sum(int(client.xlen(key)) for key in keys)
    return used / max(entries, 1)


def ring_bytes(size: int = 1000, sockets: int = 200) -> tuple[float, float]:
    """Bytes of one full ring per connection (its packets shared with the others), and of its saved JSON."""
    from eventbus.history.channels import Sent, SentRing

    packets = [Sent(f"app#{n % 64}", f"a1b2c3d4:{1700000000000 + n}-0") for n in range(size)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rings = [SentRing(size) for _ in range(sockets)]
    for ring in rings:
        for packet in packets:
            ring.add(packet)
    per_socket = (tracemalloc.get_traced_memory()[0] - before) / sockets
    tracemalloc.stop()
    return per_socket, len(json.dumps([list(packet) for packet in rings[0].packets]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_recovery", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of both settings")
    parser.add_argument("--messages", type=int, default=2000, help="broadcasts per measurement")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {setting: [] for setting in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-recovery-") as directory:
        cluster = RedisClusterServers(pathlib.Path(directory))
        cluster.start()
        try:
            for run in range(args.repeat):
                for setting, window in SETTINGS.items():
                    channel = f"bench-{setting}-{run}"
                    redis_usec(cluster, "", reset=True)
                    latency, rate = asyncio.run(publishes(cluster.url, channel, window, args.messages))
                    used = redis_usec(cluster, "eval" if window else "spublish") / (2 * args.messages + 100)
                    results[setting].append((latency, rate, used))
            per_entry = stream_bytes(cluster, "bench-recovery-0")
        finally:
            cluster.stop()
    medians: dict[str, Any] = {
        setting: tuple(statistics.median(r[i] for r in runs) for i in range(3)) for setting, runs in results.items()
    }
    off = medians["off"]
    print(f"Redis Cluster (3 masters), Emitter, {ROOMS} rooms over 64 partitions, {args.messages} x {args.repeat}")
    print(
        "| setting | µs per publish (one at a time) | vs off | publishes/s (32 at once) | vs off "
        "| Redis µs per publish | vs off |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for setting, (latency, rate, used) in medians.items():
        print(
            f"| {setting} | {latency:,.0f} | {latency / off[0]:.2f}x | {rate:,.0f} | {rate / off[1]:.2f}x "
            f"| {used:.1f} | {used / off[2]:.2f}x |"
        )
    ring, saved = ring_bytes()
    print(f"Redis memory per recovery stream entry: {per_entry:.0f} B (the message as published, 32-char text)")
    print(f"a full ring of 1,000 sent packets: {ring / 1024:.1f} KiB per connection, {saved / 1024:.1f} KiB saved")


if __name__ == "__main__":
    main()
