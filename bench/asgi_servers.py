"""The typed app under other ASGI servers than uvicorn (hypercorn, granian): does it work, and how fast (issue 18).

``python -m bench.asgi_servers [--rounds 3]``: first an over-the-wire check under
each server (a ``socketio.AsyncClient`` connects over websocket, joins a room,
gets a broadcast, sends a client event and gets its ack), then per round the
typed fan-out at 1,000 clients and acks at 100 clients under each server, in
reverse order every other round. Writes ``bench/results/asgi_servers.{json,md}``:
each round's ratios against uvicorn in that round, the load average, and the
server's CPU per delivery and per round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
from functools import partial
from typing import Any

import socketio

from bench import run, scenarios
from bench.processes import BENCH_DIR, Server
from bench.server import OTHER_ASGI_SERVERS

SERVERS = ("uvicorn", *OTHER_ASGI_SERVERS)
FANOUT_CLIENTS = 1000
ACK_CLIENTS = 100


async def check(asgi_server: str) -> dict[str, Any]:
    """Connect, join ``bench:a``, receive a broadcast, send ``echo`` and read its ack; what came, or the error."""
    client = socketio.AsyncClient()
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on("bench", received.put_nowait)
    try:
        with Server("typed", asgi_server=asgi_server) as server:
            await client.connect(server.url, transports=["websocket"], auth={"token": scenarios._token()})
            joined = await client.call("join_bench", {"key": "a"}, timeout=5)
            await asyncio.to_thread(server.emit, 1, ["bench:a"], "hello", None)
            event = await asyncio.wait_for(received.get(), 5)
            ack = await client.call("echo", {"seq": 7, "text": "ping"}, timeout=5)
            await client.disconnect()
    except Exception as error:  # the report says exactly what failed under this server
        await client.disconnect()
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    ok = joined.get("ok") is True and event["text"] == "hello" and ack == {"ok": True, "data": {"seq": 7}}
    return {"ok": ok, "join": joined, "event": event, "ack": ack}


def _with_load(job: partial[dict[str, Any]], asgi_server: str) -> dict[str, Any]:
    before = os.getloadavg()[0]
    record = job(asgi_server=asgi_server)
    return {**record, "variant": asgi_server, "loadavg_1m": [before, os.getloadavg()[0]]}


def jobs(config: scenarios.Config, servers: list[str]) -> list[run.Job]:
    """One round: typed fan-out at 1,000 clients and acks at 100 clients under each server."""
    fanout = partial(scenarios.fanout, "typed", FANOUT_CLIENTS, config)
    acks = partial(scenarios.acks, "typed", ACK_CLIENTS, config)
    planned: list[run.Job] = [(f"fanout {name}", partial(_with_load, fanout, name)) for name in servers]
    return planned + [(f"acks {name}", partial(_with_load, acks, name)) for name in servers]


METRICS = {
    "fanout": ("deliveries_per_s", "server_cpu_us_per_delivery", "deliveries/s, 1,000 clients"),
    "acks": ("round_trips_per_s", "server_cpu_us_per_round_trip", "ack round trips/s, 100 clients"),
}


def summary(records: list[dict[str, Any]], rounds: int, servers: list[str]) -> dict[str, Any]:
    """``{scenario}_{server}_over_uvicorn`` per round (``per_round``) and their medians, as `run.summarize_rounds`."""
    per_round: list[dict[str, float]] = []
    for round_no in range(rounds):
        ratios = {}
        for scenario, (rate_key, _, _) in METRICS.items():
            found = {r["variant"]: r[rate_key] for r in records if r["scenario"] == scenario and r["round"] == round_no}
            for name in servers[1:]:
                if name in found and "uvicorn" in found:
                    ratios[f"{scenario}_{name}_over_uvicorn"] = found[name] / found["uvicorn"]
        per_round.append(ratios)
    keys = {key for ratios in per_round for key in ratios}
    medians = {key: statistics.median(r[key] for r in per_round if key in r) for key in sorted(keys)}
    return {**medians, "per_round": per_round}


def table(records: list[dict[str, Any]], rounds: int, servers: list[str]) -> str:
    """Per round and server: the figure, its ratio to uvicorn's in that round, server CPU per operation, load."""
    rows = [
        "| scenario | round | server | per s | / uvicorn | server CPU µs/op | load 1m before/after |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios: dict[tuple[str, str], list[float]] = {}
    for scenario, (rate_key, cpu_key, label) in METRICS.items():
        for round_no in range(rounds):
            found = {r["variant"]: r for r in records if r["scenario"] == scenario and r["round"] == round_no}
            base = found.get("uvicorn")
            for name in servers:
                record = found.get(name)
                if record is None:
                    continue
                ratio = record[rate_key] / base[rate_key] if base else float("nan")
                ratios.setdefault((scenario, name), []).append(ratio)
                load = "/".join(f"{v:.1f}" for v in record["loadavg_1m"])
                rows.append(
                    f"| {label} | {round_no + 1} | {name} | {record[rate_key]:,.0f} | {ratio:.2f}x "
                    f"| {record[cpu_key]:.1f} | {load} |"
                )
    rows += ["", "| median ratio to uvicorn | " + " | ".join(servers) + " |", "|---|" + "---|" * len(servers)]
    for scenario, (_, _, label) in METRICS.items():
        cells = [f"{statistics.median(ratios.get((scenario, n), [float('nan')])):.2f}x" for n in servers]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_servers", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shorter bursts, for trying the script out")
    args = parser.parse_args(argv)
    config = scenarios.Config.quick() if args.quick else scenarios.Config.full()
    started = datetime.datetime.now(datetime.UTC)
    checks = {name: asyncio.run(check(name)) for name in SERVERS}
    print(json.dumps(checks, indent=1), flush=True)
    working = [name for name in SERVERS if checks[name]["ok"]]
    records = run.run_rounds(partial(jobs, config, working), args.rounds)
    environment = {**run.environment(), "asgi_servers": {n: _version(n) for n in SERVERS}}
    results = {"environment": environment, "rounds": args.rounds, "checks": checks, "records": records}
    results["summary"] = summary(records, args.rounds, working)
    name = f"`python -m bench.asgi_servers --rounds {args.rounds}`, started {started:%Y-%m-%d %H:%M} UTC"
    failed = [f"- {n} failed the check: {checks[n].get('error') or checks[n]}" for n in SERVERS if n not in working]
    text = f"Run: {name}.\n\n" + "".join(f"{line}\n" for line in failed) + "\n" + table(records, args.rounds, working)
    if not args.quick:
        directory = BENCH_DIR / "results"
        (directory / "asgi_servers.json").write_text(json.dumps(results, indent=1) + "\n")
        (directory / "asgi_servers.md").write_text(text)
    print(text)
    return 0


def _version(server: str) -> str:
    from importlib import metadata

    return metadata.version(server)


if __name__ == "__main__":
    raise SystemExit(main())
