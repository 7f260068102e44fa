"""What write coalescing is worth: typed fan-out in memory and on Redis, for several ``EVENTBUS_COALESCE_TURNS``.

``python -m bench.coalescing [--turns 0 16 64] [--repeat 2] [--messages 60]``

Each setting runs in memory (one server, 1,000 clients) and on Redis (two
servers sharing a ``redis-server``, 500 clients each, every broadcast sent by the
first), under the Node load generator of ``python -m bench``, interleaved so that
the machine's slow moments fall on every setting. Prints deliveries/s and server
CPU per delivery (medians of the bursts), and the Redis/in-memory ratio per setting.
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench.processes import Redis
from bench.scenarios import side_by_side_bursts

CLIENTS = 1000


def measure(turns: int, redis_url: str | None, messages: int, bursts: int) -> tuple[float, float]:
    """Median deliveries/s and server µs per delivery of ``bursts`` bursts of ``messages`` broadcasts."""
    os.environ["EVENTBUS_COALESCE_TURNS"] = str(turns)  # read by the server processes' EventBusSettings
    runs = side_by_side_bursts(redis_url, CLIENTS, messages, bursts)
    return (
        statistics.median(run["deliveries_per_s"] for run in runs),
        statistics.median(run["server_cpu_us_per_delivery"] for run in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.coalescing", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, nargs="+", default=[0, 16, 64])
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions of every setting")
    parser.add_argument("--messages", type=int, default=60, help="broadcasts per burst")
    parser.add_argument("--bursts", type=int, default=5)
    args = parser.parse_args()
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    with Redis() as store:
        for _ in range(args.repeat):
            for turns in args.turns:
                for mode, url in (("memory", None), ("redis", store.url)):
                    results.setdefault((turns, mode), []).append(measure(turns, url, args.messages, args.bursts))
    print(f"{CLIENTS} clients, {args.messages} broadcasts per burst, {args.bursts} bursts x {args.repeat} repeats")
    print(f"{'turns':>6} {'memory/s':>10} {'µs':>6} {'redis/s':>10} {'µs':>6} {'redis/memory':>13}")
    for turns in args.turns:
        memory, redis = (results[(turns, mode)] for mode in ("memory", "redis"))
        rate_memory = statistics.median(rate for rate, _ in memory)
        rate_redis = statistics.median(rate for rate, _ in redis)
        cpu_memory = statistics.median(cpu for _, cpu in memory)
        cpu_redis = statistics.median(cpu for _, cpu in redis)
        print(
            f"{turns:>6} {rate_memory:>10,.0f} {cpu_memory:>6.1f} {rate_redis:>10,.0f} {cpu_redis:>6.1f} "
            f"{rate_redis / rate_memory:>12.2f}x"
        )


if __name__ == "__main__":
    main()
