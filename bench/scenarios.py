"""The measured scenarios: each starts its own server(s) and load generator, and returns one flat record."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.processes import LoadGenerator, Redis, Server
from bench.server import SECRET
from eventbus import JWTAuth

TEXT = "lorem ipsum dolor sit amet " * 4 + "0123456789abcdef"
"""Pads a message to about 200 bytes on the wire: ``42["bench",{"seq":..,"t":..,"rooms":[..],"text":".."}]``."""

PACED_DELIVERIES_PER_S = 2000
"""The paced load, the same for every system: well under what the slowest one (raw python-socketio) sustains."""


@dataclass(frozen=True)
class Config:
    """How much of each scenario to run: ``--quick`` keeps the whole run under a minute."""

    burst_deliveries: int
    bursts: int
    paced_seconds: float
    settle_s: float

    @classmethod
    def quick(cls) -> Config:
        return cls(burst_deliveries=10_000, bursts=1, paced_seconds=1.5, settle_s=0.3)

    @classmethod
    def full(cls) -> Config:
        return cls(burst_deliveries=30_000, bursts=3, paced_seconds=5, settle_s=1.0)


def _token(user: str = "bench") -> str:
    return JWTAuth(secret=SECRET).issue(user, ttl=3600)


def _connect(
    loadgen: LoadGenerator,
    servers: list[Server],
    clients: int,
    rooms: list[list[str]],
    transport: str = "websocket",
    users: list[str] | None = None,
) -> dict[str, Any]:
    """Connect ``clients`` load-generator clients, client ``i`` to ``servers[i]`` in ``rooms[i]``; every one the user
    ``bench``, or client ``i`` the user ``users[i]``."""
    urls = [server.url.replace("http", "ws", 1) for server in servers]
    auth: dict[str, Any] = {"auth": {"token": _token()}}
    if users is not None:
        auth = {"auths": [{"token": _token(user)} for user in users]}
    reply = loadgen.call(
        "connect",
        urls=urls,
        clients=clients,
        rooms=rooms,
        join_event="join_bench",
        transport=transport,
        **auth,
    )
    if reply["connected"] != clients:
        raise RuntimeError(f"only {reply['connected']}/{clients} clients connected: {reply['last_error']}")
    return reply


def _burst(
    loadgen: LoadGenerator, servers: list[Server], emitter: Server, count: int, rooms: list[str], rate: float | None
) -> dict[str, Any]:
    """One series of emits; the figures are the load generator's, plus the CPU every process used meanwhile."""
    loadgen.call("reset")
    cpu_before = [server.cpu() for server in servers]
    loadgen_cpu = loadgen.cpu()
    emitter.emit(count, rooms, TEXT, rate=rate)
    stats = loadgen.call("wait", expect_each=count, timeout_ms=60_000)
    server_cpu = sum(server.cpu() - before for server, before in zip(servers, cpu_before, strict=True))
    stats["server_cpu_us_per_delivery"] = server_cpu / max(stats["received"], 1) * 1e6
    stats["loadgen_cpu_share"] = (loadgen.cpu() - loadgen_cpu) / max(stats["span_ms"] / 1000, 1e-9)
    stats["exactly_once"] = stats["clients_missing"] == 0 and stats["clients_duplicated"] == 0
    return stats


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def _summarize(prefix: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("deliveries_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_delivery")
    record = {f"{prefix}{key}": _median(runs, key) for key in keys}
    record[f"{prefix}loadgen_cpu_share"] = max(run["loadgen_cpu_share"] for run in runs)
    record[f"{prefix}exactly_once"] = all(run["exactly_once"] for run in runs)
    return record


def side_by_side_bursts(redis_url: str | None, clients: int, messages: int, bursts: int) -> list[dict[str, Any]]:
    """The runs of a setting-against-setting comparison (``bench.coalescing``, ``bench.metrics``, ``bench.recovery``).

    One typed server (two sharing ``redis_url``, every broadcast sent by the first), ``clients`` in one room,
    a warm-up, then ``bursts`` bursts of ``messages`` broadcasts. The servers read their settings from the
    ``EVENTBUS_*`` environment the caller set.
    """
    servers = [Server("typed", redis_url=redis_url) for _ in range(2 if redis_url else 1)]
    try:
        with LoadGenerator() as loadgen:
            _connect(loadgen, servers, clients, [["a"]])
            time.sleep(0.5)
            _burst(loadgen, servers, servers[0], 10, ["bench:a"], None)  # warm-up
            return [_burst(loadgen, servers, servers[0], messages, ["bench:a"], None) for _ in range(bursts)]
    finally:
        for server in servers:
            server.stop()


def fanout(system: str, clients: int, config: Config, **server_options: Any) -> dict[str, Any]:
    """Everyone in one room: idle memory per connection, bursts, then a paced series."""
    with Server(system, **server_options) as server, LoadGenerator() as loadgen:
        rss_before = server.rss()
        connected = _connect(loadgen, [server], clients, [["a"]])
        time.sleep(config.settle_s)
        rss_idle = (server.rss() - rss_before) / clients
        count = max(config.burst_deliveries // clients, 1)
        _burst(loadgen, [server], server, max(count // 4, 1), ["bench:a"], None)  # warm-up
        bursts = [_burst(loadgen, [server], server, count, ["bench:a"], None) for _ in range(config.bursts)]
        paced = _paced(loadgen, [server], clients, config)
    return {
        "scenario": "fanout",
        "system": system,
        "clients": clients,
        "connect_ms": connected["ms"],
        "rss_per_idle_connection_bytes": rss_idle,
        **_summarize("", bursts),
        "paced_deliveries_per_s": PACED_DELIVERIES_PER_S,
        **_summarize("paced_", [paced]),
        "bursts": bursts,
        "paced": paced,
    }


def multiroom(system: str, clients: int, config: Config) -> dict[str, Any]:
    """One event to three rooms, each client in two of them: every client must get every message exactly once."""
    rooms = ["bench:a", "bench:b", "bench:c"]
    with Server(system) as server, LoadGenerator() as loadgen:
        _connect(loadgen, [server], clients, [["a", "b"], ["b", "c"], ["a", "c"]])
        count = max(config.burst_deliveries // clients, 1)
        _burst(loadgen, [server], server, max(count // 4, 1), rooms, None)
        bursts = [_burst(loadgen, [server], server, count, rooms, None) for _ in range(config.bursts)]
    return {"scenario": "multiroom", "system": system, "clients": clients, **_summarize("", bursts), "bursts": bursts}


def acks(system: str, clients: int, config: Config, **server_options: Any) -> dict[str, Any]:
    """Client-to-server events with an ack (``echo``, a ``@bus.on`` handler on the typed server), one in flight each."""
    with Server(system, **server_options) as server, LoadGenerator() as loadgen:
        _connect(loadgen, [server], clients, [["a"]])
        loadgen.call("acks", seconds=0.5, event="echo", text=TEXT)  # warm-up
        cpu = server.cpu()
        result = loadgen.call("acks", seconds=config.paced_seconds, event="echo", text=TEXT)
        result["server_cpu_us_per_round_trip"] = (server.cpu() - cpu) / max(result["round_trips"], 1) * 1e6
        result["loadgen_cpu_share"] = result["client_cpu_ms"] / 1000 / result["seconds"]
    return {"scenario": "acks", "system": system, "clients": clients, **result}


MIXED_RATES = {"deliveries": 2000, "acks": 1000, "joins": 50}
"""The mixed load, per second, the same for every system: broadcast deliveries, client events with acks, joins."""


def mixed(system: str, clients: int, config: Config) -> dict[str, Any]:
    """Broadcasts, client events with acks and joins at once, each at a fixed rate: their latency percentiles."""
    with Server(system) as server, LoadGenerator() as loadgen:
        _connect(loadgen, [server], clients, [["a"]])
        time.sleep(config.settle_s)
        rate = MIXED_RATES["deliveries"] / clients
        count = max(int(rate * config.paced_seconds), 1)
        emitter = threading.Thread(target=server.emit, args=(count, ["bench:a"], TEXT, rate))
        cpu = server.cpu()
        emitter.start()
        result = loadgen.call(
            "mixed",
            seconds=config.paced_seconds,
            event="echo",
            text=TEXT,
            ack_rate=MIXED_RATES["acks"],
            join_rate=MIXED_RATES["joins"],
            join_event="join_bench",
        )
        emitter.join()
        broadcasts = loadgen.call("wait", expect_each=count, timeout_ms=60_000)
        seconds = config.paced_seconds
        result["server_cpu_share"] = (server.cpu() - cpu) / seconds
        result["loadgen_cpu_share"] = result["client_cpu_ms"] / 1000 / seconds
        result["exactly_once"] = broadcasts["clients_missing"] == 0 and broadcasts["clients_duplicated"] == 0
        result.update({f"broadcast_{q}_ms": broadcasts[f"{q}_ms"] for q in ("p50", "p99", "p999")})
    return {"scenario": "mixed", "system": system, "clients": clients, **result}


def _paced(loadgen: LoadGenerator, servers: list[Server], clients: int, config: Config) -> dict[str, Any]:
    """``PACED_DELIVERIES_PER_S`` deliveries a second, emitted on the first server, for ``config.paced_seconds``."""
    rate = PACED_DELIVERIES_PER_S / clients
    return _burst(loadgen, servers, servers[0], max(int(rate * config.paced_seconds), 1), ["bench:a"], rate)


def polling(system: str, clients: int, config: Config) -> dict[str, Any]:
    """Long-polling clients in one room: bursts; every response carries what was queued since the last poll."""
    with Server(system) as server, LoadGenerator() as loadgen:
        _connect(loadgen, [server], clients, [["a"]], transport="polling")
        count = max(config.burst_deliveries // clients, 1)
        _burst(loadgen, [server], server, max(count // 4, 1), ["bench:a"], None)
        bursts = [_burst(loadgen, [server], server, count, ["bench:a"], None) for _ in range(config.bursts)]
    return {"scenario": "polling", "system": system, "clients": clients, **_summarize("", bursts), "bursts": bursts}


def redis(system: str, clients: int, config: Config) -> dict[str, Any]:
    """Two server processes sharing a Redis, clients split between them, every broadcast emitted on the first.

    Bursts, then the paced series of `fanout`: latency includes the Redis round trip and write coalescing.
    """
    with (
        Redis() as store,
        Server(system, redis_url=store.url) as first,
        Server(system, redis_url=store.url) as second,
        LoadGenerator() as loadgen,
    ):
        servers = [first, second]
        _connect(loadgen, servers, clients, [["a"]])
        time.sleep(config.settle_s)
        count = max(config.burst_deliveries // clients, 1)
        _burst(loadgen, servers, servers[0], max(count // 4, 1), ["bench:a"], None)
        bursts = [_burst(loadgen, servers, servers[0], count, ["bench:a"], None) for _ in range(config.bursts)]
        paced = _paced(loadgen, servers, clients, config)
    return {
        "scenario": "redis",
        "system": system,
        "clients": clients,
        **_summarize("", bursts),
        "paced_deliveries_per_s": PACED_DELIVERIES_PER_S,
        **_summarize("paced_", [paced]),
        "bursts": bursts,
        "paced": paced,
    }
