"""Fan-out throughput of one server process: in memory, Redis (server broadcasts), Redis (an Emitter broadcasts).

A quick measurement, not a test: ``python -m bench.redis_fanout [--clients 100 --messages 200 --rounds 3]``.
One uvicorn process serves ``tests.e2e.app``; client processes hold the
connections and report when every client has every message; the trigger is a
burst of ``emit_to_all`` run by the server itself (memory, redis-server) or by
an emitter process publishing through Redis (redis-emitter). Prints deliveries
per second (median of the rounds) and the Redis/memory ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from eventbus import JWTAuth
from tests.e2e.cluster import EmitterProcess, ServerProcess, environment
from tests.redis_server import RedisServer

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


async def client_main(url: str, count: int) -> None:
    """Child: connect ``count`` clients, then per ``go N`` line wait until each has N ticks, print the time.

    The clients speak raw Engine.IO/Socket.IO over websockets and only count
    event frames, so a client process costs far less than the server it
    measures (python-socketio's client decodes every packet).
    """
    auth = JWTAuth(secret=SECRET)
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    received = [0] * count
    state = {"target": 0, "complete": 0}
    all_done = asyncio.Event()

    async def run_client(i: int, ready: asyncio.Event) -> None:
        async with connect(ws_url, compression=None, max_size=None) as ws:
            await ws.recv()  # engine.io open
            await ws.send("40" + json.dumps({"token": auth.issue(f"b{i}")}))
            assert str(await ws.recv()).startswith("40"), "socket.io connect refused"
            ready.set()
            async for frame in ws:
                if frame == "2":
                    await ws.send("3")
                elif str(frame).startswith('42["tick"'):
                    received[i] += 1
                    if received[i] == state["target"]:
                        state["complete"] += 1
                        if state["complete"] == count:
                            all_done.set()

    readies = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(run_client(i, readies[i])) for i in range(count)]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        received[:] = [0] * count
        state.update(target=int(line.split()[1]), complete=0)
        all_done.clear()
        print("armed", flush=True)
        await all_done.wait()
        print(f"done {time.monotonic()}", flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Clients:
    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.redis_fanout", "--client", self.url, str(self.count),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert (await self.line(60)) == "ready"

    async def line(self, limit: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), limit)).decode().strip()

    async def arm(self, messages: int) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {messages}\n".encode())
        await self.proc.stdin.drain()
        assert (await self.line(10)) == "armed"

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), 20)


def cpu_seconds(server: ServerProcess) -> float:
    """User + system CPU time of the server process so far (robust to other load on the machine)."""
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(mode: str, args: argparse.Namespace, redis: RedisServer, tmp: Path) -> list[tuple[float, float]]:
    redis_url = None if mode == "memory" else redis.url
    key = "bench-signing-key-0123456789abcdef" if args.signed else None
    env = environment(jwt_secret=SECRET, redis_url=redis_url, redis_channel=mode, redis_signing_key=key)
    server = await ServerProcess(mode, env, tmp / f"{mode}.log").start()
    emitter = (
        await EmitterProcess("emitter", env, tmp / "emitter.log", "async").start() if mode == "redis-emitter" else None
    )
    per_proc = args.clients // args.client_procs
    groups = [Clients(server.url, per_proc) for _ in range(args.client_procs)]
    await asyncio.gather(*(group.start() for group in groups))
    ops = [{"op": "emit_to_all", "event": {"source": mode, "seq": i}} for i in range(args.messages)]
    rates = []
    try:
        for _ in range(args.rounds):
            await asyncio.gather(*(group.arm(args.messages) for group in groups))
            cpu, start = cpu_seconds(server), time.monotonic()
            results = await (emitter or server).run(ops)
            assert all(r["ok"] for r in results), results[:3]
            ends = [float((await group.line(120)).split()[1]) for group in groups]
            deliveries = args.messages * per_proc * len(groups)
            rates.append((deliveries / (max(ends) - start), deliveries / (cpu_seconds(server) - cpu)))
    finally:
        await asyncio.gather(*(group.stop() for group in groups))
        if emitter is not None:
            await emitter.stop()
        await server.stop()
    return rates


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        redis = RedisServer(tmp / "redis")
        redis.start()
        try:
            results: dict[str, list[tuple[float, float]]] = {m: [] for m in ("memory", "redis-server", "redis-emitter")}
            for _ in range(args.repeat):  # interleaved, so machine noise hits every mode alike
                for mode in results:
                    results[mode] += await measure(mode, args, redis, tmp)
        finally:
            redis.stop()
    print(f"{args.clients} clients x {args.messages} messages, {args.rounds * args.repeat} rounds per mode, "
          f"{'signed' if args.signed else 'unsigned'} Redis messages, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    medians = {}
    for index, unit in enumerate(["deliveries/s (wall clock)", "deliveries per server CPU-second"]):
        medians[unit] = {mode: statistics.median(r[index] for r in rates) for mode, rates in results.items()}
        print(unit)
        for mode, rates in results.items():
            rounds = ", ".join(f"{r[index]:.0f}" for r in rates)
            print(f"  {mode:14} median {medians[unit][mode]:9.0f}   rounds: {rounds}")
        for mode in ("redis-server", "redis-emitter"):
            print(f"  ratio {mode}/memory: {medians[unit][mode] / medians[unit]['memory']:.2f}")
    print(json.dumps({"medians": medians}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--signed", action="store_true", help="sign Redis messages (EVENTBUS_REDIS_SIGNING_KEY)")
    parser.add_argument("--client", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.client:
        asyncio.run(client_main(cli.client[0], int(cli.client[1])))
    else:
        asyncio.run(main(cli))
