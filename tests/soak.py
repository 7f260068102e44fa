"""The soak: a server process under churning connections, stalled readers and steady broadcasts, watched for leaks.

``python -m tests.soak --duration 600 --out soak-results`` (``make soak``): one uvicorn server process
(`tests.e2e.app`) on a real redis-server, an `Emitter` publishing through Redis, and in this process a few
hundred raw clients that connect, authenticate, join, send client events, leave and disconnect (cleanly,
abruptly, kicked by the server, or sending garbage until they are ended), plus a few readers that stall
until they are dropped as slow consumers. Every few seconds it records the server's RSS, open file
descriptors, asyncio tasks, ``connection_count()`` and every per-connection state count (`tests.state`).

When the load stops and the clients have left, every state counter must be back to zero and the file
descriptors back to their baseline; the report (``soak.json``, ``soak.md`` and, with matplotlib,
``soak.png``) gives the RSS slope after warm-up. `run` returns the report; `tests/e2e/test_soak.py`
runs a short one in the default suite and fails on a leak it can see, never on wall-clock figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pathlib
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from eventbus import Emitter, JWTAuth
from tests.conftest import SECRET
from tests.e2e.cluster import ServerProcess, environment
from tests.e2e.model import TickEvent
from tests.raw import RawWebSocket, event_packet
from tests.redis_server import RedisServer

AUTH = JWTAuth(secret=SECRET)
ENDINGS = ("clean", "abrupt", "kick", "garbage")
TEAMS = [f"t{i}" for i in range(8)]


class Load:
    """The clients of the soak, and what happened to them."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http
        self.stopping = asyncio.Event()
        self.sessions: dict[str, int] = dict.fromkeys((*ENDINGS, "slow", "failed"), 0)
        self.errors: Counter[str] = Counter()

    async def run(
        self,
        emitter: Emitter,
        clients: int,
        stallers: int,
        rate: float,
        duration: float,
        sample: Callable[[str], Awaitable[Any]] | None = None,
        interval: float = 2,
    ) -> None:
        """Run the load for ``duration`` seconds (sampling every ``interval``), then stop it and wait for its tasks."""
        tasks = [asyncio.create_task(self.churn(n)) for n in range(clients)]
        tasks += [asyncio.create_task(self.stall(n)) for n in range(stallers)]
        tasks.append(asyncio.create_task(self.broadcast(emitter, rate)))
        started = time.monotonic()
        while time.monotonic() - started < duration:
            if sample is not None:
                await sample("load")
            await asyncio.sleep(interval if sample is not None else 0.5)
        self.stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def churn(self, n: int) -> None:
        """One client slot: sessions one after another until the load stops."""
        rng = random.Random(n)
        while not self.stopping.is_set():
            ending = ENDINGS[rng.randrange(len(ENDINGS))]
            try:
                await asyncio.wait_for(self.session(f"user{n % 97}", ending, rng), 30)
                self.sessions[ending] += 1
            except (TimeoutError, ConnectionError, OSError, AssertionError) as exc:
                self.sessions["failed"] += 1
                self.errors[f"{ending}: {type(exc).__name__} {exc}"[:120]] += 1
            await asyncio.sleep(rng.uniform(0, 0.2))

    async def session(self, user: str, ending: str, rng: random.Random) -> None:
        raw = RawWebSocket(self.url)
        try:
            await raw.open(AUTH.issue(user))
            sid = json.loads(str(raw.frames[-1])[2:])["sid"]
            team = rng.choice(TEAMS)
            assert (await raw.call("join_team", {"team_id": team}))["ok"]
            for i in range(rng.randrange(1, 4)):
                await raw.call("join_doc", {"doc_id": str(i)}, ack=10 + i)
            await raw.call("no_such_event", {}, ack=20)
            await asyncio.sleep(rng.uniform(0.05, 0.5))
            await raw.call("leave_team", {"team_id": team}, ack=21)
            if ending == "clean":
                await raw.send("41")
                await raw.send("1")
            elif ending == "kick":
                await self.http.post("/ops", json={"ops": [{"op": "disconnect", "sid": sid}]})
                await until_ended(raw)
            elif ending == "garbage":
                for _ in range(30):
                    await raw.send(event_packet("x", None, 5)[:-2])
                await until_ended(raw)
        finally:
            await raw.close()

    async def stall(self, n: int) -> None:
        """A reader that joins the busiest room and stops reading; once dropped, another takes its place."""
        while not self.stopping.is_set():
            raw = RawWebSocket(self.url)
            try:
                await raw.open(AUTH.issue(f"staller{n}"))
                assert (await raw.call("join_team", {"team_id": TEAMS[0]}))["ok"]
                before = (await stats(self.http))["slow_consumers"]
                while True:
                    if self.stopping.is_set() or (await stats(self.http))["slow_consumers"] != before:
                        break
                    await asyncio.sleep(0.5)
                self.sessions["slow"] += 1
            except (TimeoutError, ConnectionError, OSError, AssertionError) as exc:
                self.sessions["failed"] += 1
                self.errors[f"stall: {type(exc).__name__} {exc}"[:120]] += 1
            finally:
                await raw.close()

    async def broadcast(self, emitter: Emitter, rate: float) -> None:
        """Steady broadcasts, half from the server process, half from the Emitter through Redis."""
        seq = 0
        pad = "x" * 1000
        while not self.stopping.is_set():
            await self.http.post(
                "/ops",
                json={"ops": [{"op": "blast", "source": "s", "start": seq, "count": 10, "pad": 1000, "teams": TEAMS}]},
            )
            for _ in range(10):
                await emitter.broadcast(TickEvent(source="e", seq=seq, teams=[TEAMS[seq % 8]], pad=pad))
                seq += 1
            await asyncio.sleep(20 / rate)


async def until_ended(raw: RawWebSocket) -> None:
    while True:
        frame = await raw.next_frame(10)
        if frame is None or (isinstance(frame, str) and frame.startswith(("41", "1"))):
            return
        if frame == "2":
            await raw.send("3")


async def stats(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/stats")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def settle(
    http: httpx.AsyncClient, baseline: dict[str, Any] | None = None, timeout: float = 30
) -> dict[str, Any]:
    """The server's stats once it is idle again (or after ``timeout``).

    Idle: per-connection state at zero, and either the task and fd counts down to ``baseline``'s or, without
    one, both held still for 2.5 s. python-engineio keeps a ping task per connection for up to its ping
    interval after the connection closed (the soak's server pings every 2 s), and uvicorn keeps a websocket
    it closed for up to 10 s waiting for the client's close frame.
    """
    deadline = time.monotonic() + timeout
    recent: list[tuple[int, int]] = []
    while True:
        current = await stats(http)
        idle = not sum(current["state"].values())
        if idle and baseline is not None:
            idle = current["tasks"] <= baseline["tasks"] and current["fds"] <= baseline["fds"]
        elif idle:
            recent = [*recent[-4:], (current["tasks"], current["fds"])]
            idle = len(recent) == 5 and len(set(recent)) == 1
        else:
            recent = []
        if idle or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.5)


def slope(samples: list[dict[str, Any]], key: str, since: float) -> float:
    """Least-squares slope of ``key`` per minute over the samples taken after ``since`` seconds."""
    points = [(s["t"], s[key]) for s in samples if s["t"] >= since]
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / denominator if denominator else 0.0


async def run(
    duration: float, out: pathlib.Path, *, clients: int = 200, stallers: int = 3, rate: float = 200, interval: float = 2
) -> dict[str, Any]:
    """Run the soak for ``duration`` seconds of load; write and return the report."""
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before the servers start
    work = pathlib.Path(tempfile.mkdtemp(prefix="soak-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    env = environment(
        redis_url=redis_server.url,
        redis_channel="soak",
        jwt_secret=SECRET,
        max_queue_bytes=str(256 * 1024),
        write_timeout="2",
        rate_limit="1000",
        ping_interval="2",
        ping_timeout="5",
    )
    server = await ServerProcess("soak", env, out / "server.log").start()
    samples: list[dict[str, Any]] = []
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
            Emitter(redis_server.url, channel="soak") as emitter,
        ):
            warmup = Load(server.url, http)
            await warmup.run(emitter, clients, stallers, rate, min(10.0, duration / 4))
            # The baseline is taken after a warm-up whose clients have left: lazily opened connections (the
            # Redis publisher), the write watchdog and the allocator's arenas are there from then on.
            baseline = await settle(http)
            load = Load(server.url, http)
            started = time.monotonic()

            async def sample(phase: str) -> dict[str, Any]:
                current = await stats(http)
                row = {"t": round(time.monotonic() - started, 2), "phase": phase, **current}
                row["state_total"] = sum(current["state"].values())
                row.pop("queues", None)
                samples.append(row)
                return row

            await load.run(emitter, clients, stallers, rate, duration, sample, interval)
            settle_until = time.monotonic() + 30
            while True:
                row = await sample("after")
                settled = (
                    row["state_total"] == 0 and row["fds"] <= baseline["fds"] and row["tasks"] <= baseline["tasks"]
                )
                if settled or time.monotonic() > settle_until:
                    break
                await asyncio.sleep(0.5)
    finally:
        await server.stop()
        redis_server.stop()
    last = samples[-1]
    report = {
        "duration_s": duration,
        "clients": clients,
        "stallers": stallers,
        "sessions": load.sessions,
        "errors": dict(load.errors),
        "baseline": {key: baseline[key] for key in ("rss", "fds", "tasks", "connections")},
        "end": {key: last[key] for key in ("rss", "fds", "tasks", "connections")},
        "state_after": {name: count for name, count in last["state"].items() if count},
        "rss_slope_mib_per_min": slope(samples, "rss", duration / 3) / 2**20,
        "peak_rss_mib": max(s["rss"] for s in samples) / 2**20,
        "peak_connections": max(s["connections"] for s in samples),
        "fds_back_to_baseline": last["fds"] <= baseline["fds"],
        "tasks_back_to_baseline": last["tasks"] <= baseline["tasks"],
        "state_back_to_zero": last["state_total"] == 0,
        "samples": samples,
    }
    write_report(report, out)
    return report


def write_report(report: dict[str, Any], out: pathlib.Path) -> None:
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    lines = [
        f"# Soak: {report['duration_s']:g} s, {report['clients']} churning clients, "
        f"{report['stallers']} stalled readers",
        "",
        f"- sessions: {report['sessions']}",
        f"- client-side failures: {report['errors'] or 'none'}",
        f"- peak connections: {report['peak_connections']}, peak RSS {report['peak_rss_mib']:.1f} MiB",
        f"- RSS slope after warm-up (last two thirds): {report['rss_slope_mib_per_min']:+.2f} MiB/min",
        f"- baseline: {report['baseline']}",
        f"- after the clients left: {report['end']}",
        f"- per-connection state back to zero: {report['state_back_to_zero']} {report['state_after'] or ''}",
        f"- file descriptors back to baseline: {report['fds_back_to_baseline']}",
        f"- asyncio tasks back to baseline: {report['tasks_back_to_baseline']}",
    ]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    with contextlib.suppress(ImportError):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        samples = report["samples"]
        figure, rss_axis = plt.subplots(figsize=(9, 4))
        rss_axis.plot([s["t"] for s in samples], [s["rss"] / 2**20 for s in samples], label="RSS (MiB)")
        rss_axis.set_xlabel("seconds")
        rss_axis.set_ylabel("RSS (MiB)")
        fd_axis = rss_axis.twinx()
        fd_axis.plot([s["t"] for s in samples], [s["fds"] for s in samples], color="tab:orange", label="fds")
        fd_axis.set_ylabel("open file descriptors")
        figure.legend(loc="upper left")
        figure.savefig(out / "soak.png", dpi=100, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("soak-results"))
    args = parser.parse_args()
    report = asyncio.run(run(args.duration, args.out, clients=args.clients))
    print((args.out / "soak.md").read_text())
    if not (report["state_back_to_zero"] and report["fds_back_to_baseline"] and report["tasks_back_to_baseline"]):
        raise SystemExit("leak: see soak.md")


if __name__ == "__main__":
    main()
