"""What Prometheus metrics cost on the hot path: fan-out deliveries/s with ``EVENTBUS_METRICS`` on against off.

``python -m bench.metrics [--repeat 3] [--messages 60] [--bursts 5]``

One server and 1,000 clients in one room in memory, and two servers sharing a
``redis-server`` (500 clients each, every broadcast sent by the first), under the
Node load generator of ``python -m bench``, the two settings interleaved. Prints
deliveries/s (medians of the bursts) and the ratio on/off; the issue asks for at
least 0.95x.
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench.processes import Redis
from bench.scenarios import side_by_side_bursts

CLIENTS = 1000


def measure(metrics: bool, redis_url: str | None, messages: int, bursts: int) -> float:
    """Median deliveries/s of ``bursts`` bursts of ``messages`` broadcasts."""
    os.environ["EVENTBUS_METRICS"] = "true" if metrics else "false"  # read by the server processes' settings
    os.environ.setdefault("EVENTBUS_MAX_CONNECTIONS_PER_USER", str(CLIENTS))  # the load generator is one user
    runs = side_by_side_bursts(redis_url, CLIENTS, messages, bursts)
    if not all(run["clients_missing"] == 0 and run["clients_duplicated"] == 0 for run in runs):
        raise RuntimeError("lost or duplicated deliveries")
    return float(statistics.median(run["deliveries_per_s"] for run in runs))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of each setting")
    parser.add_argument("--messages", type=int, default=60, help="broadcasts per burst")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--memory-only", action="store_true", help="skip the Redis runs")
    args = parser.parse_args()
    results: dict[tuple[bool, str], list[float]] = {}
    with Redis() as store:
        modes = [("memory", None)] + ([] if args.memory_only else [("redis", store.url)])
        for _ in range(args.repeat):
            for metrics in (False, True):
                for mode, url in modes:
                    results.setdefault((metrics, mode), []).append(measure(metrics, url, args.messages, args.bursts))
    print(f"{CLIENTS} clients, {args.messages} broadcasts per burst, {args.bursts} bursts x {args.repeat} repeats")
    print("| mode | metrics off deliveries/s | metrics on deliveries/s | on/off |\n|---|---:|---:|---:|")
    for mode, _ in modes:
        off, on = (statistics.median(results[(metrics, mode)]) for metrics in (False, True))
        print(f"| {mode} | {off:,.0f} | {on:,.0f} | {on / off:.2f}x |")


if __name__ == "__main__":
    main()
