"""What room-sharded pub/sub saves: Redis messages and CPU per server process, sharded against one channel.

``python -m bench.sharding [--quick] [--cluster] [--partitions 64]``

P typed server processes (2 and 4) with sharding off and as many with it on (each
set on its own channel) share one ``redis-server``; the Node load
generator of ``python -m bench`` holds ``ROOMS`` rooms of ``MEMBERS`` clients;
an `Emitter` in this process publishes to one room after the other at a fixed
rate. Three placements of the clients:

* ``room``: each room's clients on one process (room affinity; rooms dealt in a
  seeded random order);
* ``partition``: the same, but a room goes to the process its partition channel
  maps to, so each process owns whole partitions;
* ``spread``: each room has a member on every process.

In those every load-generator client is the one user ``bench``. The ``users`` run
(4 processes, placed by room) makes every client its own user, as in a deployment, and
compares two sharded settings: ``user:`` rooms on the partitions
(``EVENTBUS_REDIS_DEDICATED_ROOMS`` empty) and on their own channels (the default);
it also times python-socketio connects of new users to both, interleaved, while the
load generator's clients are connected (a connect waits for its user channel's
subscription).

The same servers serve every placement, each set with its own load generator, the
two sets' paced series alternating round by round. Per process:
pub/sub messages received (``bus.sio.manager.received`` through ``GET
/bench/stats``), those of rooms it has no member in, the count predicted from the
placement and the partition hash alone, the closed-form expectation of the model
in docs/internals/scaling.md, and server CPU seconds (``/proc``) per delivered
message. ``--cluster`` runs the sharded side again on 4 processes on a local Redis
Cluster (`devtools.redis_cluster`), with the SPUBLISH calls each master served.
Writes ``bench/results/sharding.{json,md}`` (``sharding-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import socketio

from bench.processes import BENCH_DIR, LoadGenerator, Redis, Server, cpu_seconds
from bench.scenarios import TEXT, _connect, _token
from bench.server import BenchEvent
from devtools.redis_cluster import RedisClusterServers
from eventbus import Emitter, EventBusSettings
from eventbus.transport.sharding import Partitions

if TYPE_CHECKING:
    from devtools.redis_server import RedisProcess

ROOMS = 200
MEMBERS = 4
RATE = 400.0
"""Messages per second the Emitter publishes, each to one room: 2 per room per second."""
USER_ROOM = "user:bench"
"""Every load-generator client is the user ``bench`` (but in the ``users`` run): each process also holds this room."""
CHANNEL = "bench"
CONNECT_SAMPLES = 150
"""Connects of new users timed per setting in the ``users`` run."""

SETTINGS: dict[str, tuple[bool, str, bool]] = {
    "one channel": (False, "user", False),
    "sharded": (True, "user", False),
    "sharded, user partitions": (True, "", True),
    "sharded, user channels": (True, "user", True),
}
"""Per setting: sharding on, ``EVENTBUS_REDIS_DEDICATED_ROOMS``, every client its own user."""
COMPARED = [("one channel", "sharded"), ("sharded, user partitions", "sharded, user channels")]
"""The (baseline, setting) pairs of the ratios table."""

Place = Callable[[int, int, int, Partitions], int]
"""(room index, member index, processes, partitions) -> the process that member connects to."""


def _by_room(room: int, member: int, processes: int, partitions: Partitions) -> int:
    # A seeded shuffle, not ``room % processes``: CRC-32 is linear, so sequential names dealt round robin would
    # share partitions far more than a deployment's room names do, and flatter sharding.
    return ROOM_ORDER[room] % processes


def _by_partition(room: int, member: int, processes: int, partitions: Partitions) -> int:
    return partitions.names.index(partitions.of(room_name(room))) % processes


def _spread(room: int, member: int, processes: int, partitions: Partitions) -> int:
    return member % processes


ROOM_ORDER = random.Random(17).sample(range(ROOMS), ROOMS)
LAYOUTS: dict[str, Place] = {"room": _by_room, "partition": _by_partition, "spread": _spread}


def room_name(room: int) -> str:
    return f"bench:r{room}"


def placement(layout: str, processes: int, partitions: Partitions) -> list[list[int]]:
    """For each room, the process of each of its members."""
    place = LAYOUTS[layout]
    return [[place(room, member, processes, partitions) for member in range(MEMBERS)] for room in range(ROOMS)]


def predicted(
    rooms_of: list[list[int]], process: int, published: int, partitions: Partitions | None, users: list[str]
) -> int:
    """Messages ``process`` receives, from the placement and the hash: all on one channel, else its channels'.

    ``published`` messages went round robin to the rooms, ``published // ROOMS`` each; ``users`` are the
    ``user:`` rooms of the process's clients (on partitions, or on channels of their own that get none of these).
    """
    if partitions is None:
        return published
    served = [room_name(room) for room, members in enumerate(rooms_of) if process in members]
    subscribed = {partitions.of(name) for name in [*served, *users]}
    return sum(published // ROOMS for room in range(ROOMS) if partitions.of(room_name(room)) in subscribed)


def expected(layout: str, processes: int, published: int, partitions: int | None, user_partitions: float) -> float:
    """The model of docs/internals/scaling.md: messages one process receives, for rooms hashed at random.

    One channel: every message. Sharded, with room affinity: the messages of its ``S`` rooms, plus those of
    the other rooms that share a partition with one of them or with one of the ``user_partitions`` user rooms
    that take one (none when they have channels of their own), each with probability ``1 - (1 - 1/K)^(S + u)``;
    with partition affinity its own ``K/N`` partitions and those its user rooms take.
    """
    if partitions is None or layout == "spread":
        return float(published)
    if layout == "partition":
        taken = 1 - math.pow(1 - 1 / partitions, user_partitions)
        return published * (1 / processes + (1 - 1 / processes) * taken)
    served = ROOMS / processes
    shared = 1 - math.pow(1 - 1 / partitions, served + user_partitions)
    return published * (served / ROOMS + (1 - served / ROOMS) * shared)


def start_servers(count: int, redis_url: str, setting: str, partitions: int) -> list[Server]:
    """``count`` typed servers of one setting, on its own channel, started side by side; all or none."""
    sharded, dedicated, _ = SETTINGS[setting]
    env = {
        "EVENTBUS_REDIS_SHARDING": "true" if sharded else "false",
        "EVENTBUS_REDIS_PARTITIONS": str(partitions),
        "EVENTBUS_REDIS_DEDICATED_ROOMS": dedicated,
    }
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(Server, "typed", redis_url=redis_url, channel=channel_of(setting), env=env)
            for _ in range(count)
        ]
    started = [future.result() for future in futures if future.exception() is None]
    if len(started) < count:
        for server in started:
            server.stop()
        raise next(exc for future in futures if (exc := future.exception()) is not None)
    return started


def channel_of(setting: str) -> str:
    # Each setting on its own channel of the one redis-server: they run at once without hearing each other.
    return "bench-" + "".join(word[0] for word in setting.replace(",", "").split())


async def publish(redis_url: str, setting: str, partitions: int, count: int, rate: float) -> float:
    """``count`` events from an `Emitter`, room after room, on a fixed schedule; the seconds it took."""
    sharded, dedicated, _ = SETTINGS[setting]
    settings = EventBusSettings(
        redis_sharding=sharded, redis_partitions=partitions, redis_dedicated_rooms=[dedicated] if dedicated else []
    )
    async with Emitter(redis_url, channel=channel_of(setting), settings=settings) as emitter:
        started = time.perf_counter()
        wall = time.time() * 1000
        for seq in range(count):
            delay = started + seq / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event = BenchEvent(seq=seq, t=wall + seq / rate * 1000, rooms=[room_name(seq % ROOMS)], text=TEXT)
            await emitter.broadcast(event)
        return time.perf_counter() - started


@dataclass
class Side:
    """One setting under test (a key of `SETTINGS`): its servers, and the Redis they and the Emitter share."""

    name: str
    setting: str
    redis_url: str
    servers: list[Server]

    @property
    def sharded(self) -> bool:
        return SETTINGS[self.setting][0]

    @property
    def dedicated(self) -> list[str]:
        return [SETTINGS[self.setting][1]] if SETTINGS[self.setting][1] else []

    @property
    def users(self) -> bool:
        """Whether every client is its own user."""
        return SETTINGS[self.setting][2]


def compare(
    processes: int, layouts: list[str], store: Redis, config: Config, settings: tuple[str, str] = COMPARED[0]
) -> list[dict[str, Any]]:
    """``processes`` servers of each of two settings, at once; each placement in turn."""
    sides: list[Side] = []
    try:
        for setting in settings:
            servers = start_servers(processes, store.url, setting, config.partitions)
            sides.append(Side(setting, setting, store.url, servers))
        return [record for layout in layouts for record in measure(layout, sides, config)]
    finally:
        for side in sides:
            for server in side.servers:
                server.stop()


def on_cluster(processes: int, layouts: list[str], config: Config, directory: pathlib.Path) -> list[dict[str, Any]]:
    """The sharded side again on a Redis Cluster (3 masters, 1 replica each): SPUBLISH/SSUBSCRIBE.

    Each record also gets the SPUBLISH calls each master served and the CPU seconds each node used,
    over its placement's warm-up and series: how the partitions spread the pub/sub load over the masters.
    """
    cluster = RedisClusterServers(directory)
    cluster.start()
    servers: list[Server] = []
    try:
        servers = start_servers(processes, cluster.url, "sharded", config.partitions)
        side = Side("sharded, Redis Cluster", "sharded", cluster.url, servers)
        primaries = {int(node.port) for node in cluster.client().get_primaries()}  # type: ignore[no-untyped-call]
        masters = [node for node in cluster.nodes if node.port in primaries]
        records = []
        for layout in layouts:
            before = [(_spublish_calls(node.port), _node_cpu(node)) for node in cluster.nodes]
            [record] = measure(layout, [side], config)
            after = [(_spublish_calls(node.port), _node_cpu(node)) for node in cluster.nodes]
            spread = zip(cluster.nodes, before, after, strict=True)
            record["masters_spublish"] = [a[0] - b[0] for node, b, a in spread if node in masters]
            record["redis_nodes_cpu_s"] = [a[1] - b[1] for b, a in zip(before, after, strict=True)]
            records.append(record)
        return records
    finally:
        for server in servers:
            server.stop()
        cluster.stop()


def _spublish_calls(port: int) -> int:
    stats = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).info("commandstats")
    return int(stats.get("cmdstat_spublish", {}).get("calls", 0))


def _node_cpu(node: RedisProcess) -> float:
    assert node.proc is not None
    return cpu_seconds(node.proc.pid)


def measure(layout: str, sides: list[Side], config: Config) -> list[dict[str, Any]]:
    """One placement on every side, their series interleaved round by round; a record per side."""
    started = time.monotonic()
    processes = len(sides[0].servers)
    rooms_of = placement(layout, processes, Partitions(CHANNEL, config.partitions))
    members = [(room, process) for room, procs in enumerate(rooms_of) for process in procs]
    count = ROOMS * max(round(RATE * config.seconds / ROOMS), 1)
    runs: list[list[dict[str, Any]]] = [[] for _ in sides]
    connects: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        loadgens = [stack.enter_context(LoadGenerator()) for _ in sides]

        def prepare(index: int) -> None:
            side, loadgen = sides[index], loadgens[index]
            servers = [side.servers[process] for _, process in members]
            users = [f"u{client}" for client in range(len(members))] if side.users else None
            _connect(loadgen, servers, len(members), [[f"r{room}"] for room, _ in members], users=users)
            asyncio.run(publish(side.redis_url, side.setting, config.partitions, ROOMS, RATE))  # warm-up: 1 a room
            loadgen.call("wait", expect_each=1, timeout_ms=30_000)

        with ThreadPoolExecutor(len(sides)) as pool:  # the sides connect at once: the measured series stay sequential
            list(pool.map(prepare, range(len(sides))))
        for round_no in range(config.rounds):
            order = range(len(sides)) if round_no % 2 == 0 else reversed(range(len(sides)))
            for index in order:
                runs[index].append(series(sides[index], loadgens[index], config, count))
        if all(side.users for side in sides):
            connects = asyncio.run(connect_times({side.name: side.servers[0].url for side in sides}, CONNECT_SAMPLES))
    records = [
        summarize(layout, rooms_of, side, side_runs, config) for side, side_runs in zip(sides, runs, strict=True)
    ]
    for record in records:
        if record["pubsub"] in connects:
            times = sorted(connects[record["pubsub"]])
            record["connect_ms"] = {
                "median": statistics.median(times) * 1000,
                "p90": times[len(times) * 9 // 10] * 1000,
            }
    for record in records:
        print(
            f"  sharding P={processes} {layout:<9} {record['pubsub']:<22} "
            f"received/process {record['received_mean']:>7,.0f}  not served {record['not_served_mean']:>7,.0f}  "
            f"{record['cpu_us_per_delivery']:5.1f} µs/delivery",
            flush=True,
        )
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    return records


async def connect_times(urls: dict[str, str], samples: int) -> dict[str, list[float]]:
    """Seconds each python-socketio connect of a new user took, per setting, the settings interleaved."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    for n in range(samples):
        for name, url in urls.items():
            client = socketio.AsyncClient(reconnection=False)
            started = time.perf_counter()
            await client.connect(url, auth={"token": _token(f"new{n}")}, transports=["websocket"], wait_timeout=10)
            times[name].append(time.perf_counter() - started)
            await client.disconnect()
    return times


def series(side: Side, loadgen: LoadGenerator, config: Config, count: int) -> dict[str, Any]:
    """One paced series: each server's counters and CPU before and after, and what the clients got."""
    loadgen.call("reset")
    before = [(server.stats(), server.cpu()) for server in side.servers]
    elapsed = asyncio.run(publish(side.redis_url, side.setting, config.partitions, count, RATE))
    delivered = loadgen.call("wait", expect_each=count // ROOMS, timeout_ms=60_000, settle_ms=300)
    after = [(server.stats(), server.cpu()) for server in side.servers]
    return {"published": count, "publish_seconds": elapsed, "delivered": delivered, "before": before, "after": after}


def summarize(
    layout: str, rooms_of: list[list[int]], side: Side, runs: list[dict[str, Any]], config: Config
) -> dict[str, Any]:
    """A side's record: per-process figures (counts from the last round, CPU the median of the rounds)."""
    sharded = side.sharded
    processes = len(runs[0]["before"])
    count = runs[0]["published"]
    hashing = Partitions(CHANNEL, config.partitions, side.dedicated) if sharded else None
    users = users_of(rooms_of, processes, side.users)
    per_run = [
        [
            _process_figures(p, rooms_of, count, hashing, users[p], run["before"][p], run["after"][p])
            for p in range(processes)
        ]
        for run in runs
    ]
    per_process = per_run[-1]
    cpu_per_run = [sum(p["cpu_s"] for p in figures) for figures in per_run]
    delivered = [run["delivered"] for run in runs]
    return {
        "layout": layout,
        "processes": processes,
        "pubsub": side.name,
        "sharded": sharded,
        "partitions": config.partitions,
        "rooms": ROOMS,
        "members": MEMBERS,
        "published": count,
        "rounds": len(runs),
        "exactly_once": all(d["clients_missing"] == 0 and d["clients_duplicated"] == 0 for d in delivered),
        "delivered": delivered[-1]["received"],
        "p99_ms": statistics.median(d["p99_ms"] for d in delivered),
        "per_process": per_process,
        "received_mean": statistics.mean(p["received"] for p in per_process),
        "expected": expected(
            layout,
            processes,
            count,
            config.partitions if sharded else None,
            0 if side.dedicated else statistics.mean(len(names) for names in users),
        ),
        "not_served_mean": statistics.mean(p["not_served"] for p in per_process),
        "server_cpu_s": statistics.median(cpu_per_run),
        "cpu_us_per_delivery": statistics.median(cpu_per_run) / max(delivered[-1]["received"], 1) * 1e6,
        "cpu_us_per_delivery_rounds": [
            cpu / max(d["received"], 1) * 1e6 for cpu, d in zip(cpu_per_run, delivered, strict=True)
        ],
    }


def users_of(rooms_of: list[list[int]], processes: int, own_users: bool) -> list[list[str]]:
    """The ``user:`` rooms each process holds: ``user:bench``, or one per client (client ``i`` is ``u{i}``)."""
    if not own_users:
        return [[USER_ROOM] for _ in range(processes)]
    members = [process for procs in rooms_of for process in procs]  # in the load generator's client order
    return [
        [f"user:u{client}" for client, proc in enumerate(members) if proc == process] for process in range(processes)
    ]


def _process_figures(
    process: int,
    rooms_of: list[list[int]],
    published: int,
    partitions: Partitions | None,
    users: list[str],
    before: tuple[dict[str, Any], float],
    after: tuple[dict[str, Any], float],
) -> dict[str, Any]:
    (stats_before, cpu_before), (stats_after, cpu_after) = before, after

    def delta(kind: str) -> int:
        return int(stats_after["received"].get(kind, 0)) - int(stats_before["received"].get(kind, 0))

    received = delta("control") + delta("partition") + delta("dedicated")
    served_rooms = sum(process in members for members in rooms_of)
    served_messages = published // ROOMS * served_rooms
    deliveries = published // ROOMS * sum(members.count(process) for members in rooms_of)
    cpu = cpu_after - cpu_before
    return {
        "process": process,
        "rooms_served": served_rooms,
        "received": received,
        "predicted": predicted(rooms_of, process, published, partitions, users),
        "not_served": received - served_messages,
        "unserved_counter": delta("unserved"),
        "partitions_subscribed": len(stats_after["partitions"]),
        "dedicated_subscribed": int(stats_after.get("dedicated_channels", 0)),
        "deliveries": deliveries,
        "cpu_s": cpu,
        "cpu_us_per_delivery": cpu / max(deliveries, 1) * 1e6,
    }


@dataclass(frozen=True)
class Config:
    """How long each series runs, how many rounds, how many partitions."""

    seconds: float
    rounds: int
    partitions: int


def plan(quick: bool) -> list[tuple[int, list[str], tuple[str, str]]]:
    """(processes, placements, the two settings compared) of a run."""
    if quick:
        return [(2, ["room"], COMPARED[0])]
    # Spread membership only at 4: at 2 it shows the same (every process needs every message), for 20 s more.
    return [(2, ["room"], COMPARED[0]), (4, ["room", "partition", "spread"], COMPARED[0]), (4, ["room"], COMPARED[1])]


def markdown(results: dict[str, Any]) -> str:
    """The report: per run, per-process means, measured against predicted; then the sharded/single ratios."""
    env = results["environment"]
    intro = (
        f"{ROOMS} rooms x {MEMBERS} members, {RATE:.0f} messages/s from an Emitter for "
        f"{results['seconds']:.0f} s x {results['rounds']} rounds, {results['partitions']} partitions; "
        f"{env['date']}, {env['machine']}, load average {env['load_average']:.1f}."
    )
    runs = _table(
        ["processes", "clients placed by", "pub/sub", "published", "received per process", "predicted from the hash",
         "model", "of rooms not served", "partitions subscribed", "user channels subscribed",
         "server CPU µs per delivery", "exactly once"],
        "|---:|---|---|---:|---|---|---:|---:|---:|---:|---:|---|",
        [
            [str(r["processes"]), r["layout"], r["pubsub"], f"{r['published']:,}",
             _each(r["per_process"], "received"), _each(r["per_process"], "predicted"), f"{r['expected']:,.0f}",
             f"{r['not_served_mean']:,.0f}",
             f"{statistics.mean(p['partitions_subscribed'] for p in r['per_process']):.0f}",
             f"{statistics.mean(p.get('dedicated_subscribed', 0) for p in r['per_process']):.0f}",
             f"{r['cpu_us_per_delivery']:.1f}", "yes" if r["exactly_once"] else "NO"]
            for r in results["records"]
        ],
    )  # fmt: skip
    compared = _table(
        ["processes", "clients placed by", "setting / baseline", "received", "CPU per delivery",
         "server CPU µs per message not received"],
        "|---:|---|---|---:|---:|---:|",
        [
            [str(r["processes"]), r["layout"], f"{r['setting']} / {r['baseline']}", f"{r['received']:.2f}x",
             f"{r['cpu_per_delivery']:.2f}x",
             "-" if r["cpu_us_per_message_saved"] is None else f"{r['cpu_us_per_message_saved']:.0f}"]
            for r in results["ratios"]
        ],
    )  # fmt: skip
    connects = [
        f"Connects of a new user ({CONNECT_SAMPLES} per setting, interleaved, to one process holding "
        f"{r['per_process'][0]['rooms_served']} rooms' clients), {r['pubsub']}: median "
        f"{r['connect_ms']['median']:.2f} ms, p90 {r['connect_ms']['p90']:.2f} ms."
        for r in results["records"]
        if "connect_ms" in r
    ]
    cluster = [
        f"On the Redis Cluster, placed by {r['layout']}: SPUBLISH calls per master "
        f"{' / '.join(f'{calls:,}' for calls in r['masters_spublish'])}, CPU seconds per node "
        f"{' / '.join(f'{cpu:.2f}' for cpu in r['redis_nodes_cpu_s'])} (masters and replicas; warm-up included)."
        for r in results["records"]
        if "masters_spublish" in r
    ]
    return (
        "\n".join(
            [
                intro,
                "",
                *runs,
                "",
                *compared,
                *(["", *connects] if connects else []),
                *(["", *cluster] if cluster else []),
            ]
        )
        + "\n"
    )


def _table(header: list[str], alignment: str, rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", alignment, *("| " + " | ".join(row) + " |" for row in rows)]


def _each(procs: list[dict[str, Any]], key: str) -> str:
    return " / ".join(f"{p[key]:,}" for p in procs)


def ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each setting over its baseline (`COMPARED`), per (layout, processes): messages received, CPU per delivery."""
    out = []
    for baseline, setting in COMPARED:
        out += _ratios(records, baseline, setting)
    return out


def _ratios(records: list[dict[str, Any]], baseline: str, setting: str) -> list[dict[str, Any]]:
    out = []
    for single in (r for r in records if r["pubsub"] == baseline):
        key = (single["layout"], single["processes"])
        sharded = next(r for r in records if r["pubsub"] == setting and (r["layout"], r["processes"]) == key)
        # The CPU one channel spent more, over the messages it received more: what one message of a room
        # the process does not serve costs it (the same deliveries on both sides). Only where sharding saved
        # at least a quarter of the messages: below that, this machine's noise is larger than the difference.
        saved = (single["received_mean"] - sharded["received_mean"]) * single["processes"]
        cpu_saved = single["server_cpu_s"] - sharded["server_cpu_s"]
        out.append(
            {
                "baseline": baseline,
                "setting": setting,
                "layout": single["layout"],
                "processes": single["processes"],
                "received": sharded["received_mean"] / single["received_mean"],
                "cpu_per_delivery": sharded["cpu_us_per_delivery"] / single["cpu_us_per_delivery"],
                "cpu_us_per_message_saved": (
                    cpu_saved / saved * 1e6 if sharded["received_mean"] <= 0.75 * single["received_mean"] else None
                ),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sharding", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 processes, room affinity, one round: about 20 s")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each paced series")
    parser.add_argument("--rounds", type=int, help="series per placement and setting (default: 1 quick, 2 full)")
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--cluster", action="store_true", help="the sharded side on a Redis Cluster too: +40 s")
    args = parser.parse_args(argv)
    config = Config(seconds=args.seconds, rounds=args.rounds or (1 if args.quick else 2), partitions=args.partitions)
    records: list[dict[str, Any]] = []
    with Redis() as store:
        for processes, layouts, settings in plan(args.quick):
            records += compare(processes, layouts, store, config, settings)
    if args.cluster:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as cluster_dir:
            records += on_cluster(4, ["room", "partition"], config, pathlib.Path(cluster_dir))
    results = {
        "environment": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores",
            "load_average": os.getloadavg()[0],
        },
        "seconds": config.seconds,
        "rounds": config.rounds,
        "partitions": config.partitions,
        "records": records,
        "ratios": ratios(records),
    }
    name = "sharding-quick" if args.quick else "sharding"
    directory = BENCH_DIR / "results"
    (directory / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    (directory / f"{name}.md").write_text(report)
    print(report)
    if not all(record["exactly_once"] for record in records):
        print("sharding: some client missed or got twice a message", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
