"""``python -m bench [--quick]``: every system under the same load, in one run, with ratios to the baseline.

Systems: ``raw`` (python-socketio ``sio.emit``, the baseline), ``typed`` (our
``bus.broadcast``), ``node`` (socket.io 4.8, the reference) and, in the full run,
``typed-nofast`` (the typed API without the fast path). The full run repeats the
whole series in alternating order so that slow moments of a shared machine fall
on every system, and reports medians.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from importlib import metadata
from typing import Any

from bench import report, scenarios
from bench.processes import BENCH_DIR

Job = tuple[str, Callable[[], dict[str, Any]]]

POLLING_CLIENTS = 100
"""Long-polling clients: one HTTP request waiting each (and a POST per pong), so fewer than the websocket runs."""


def ws_variants(config: scenarios.Config) -> list[Job]:
    """Typed fan-out at 1,000 clients under each of uvicorn's other websocket implementations."""
    return [
        (f"typed ws={ws}", partial(_variant, f"ws={ws}", partial(scenarios.fanout, "typed", 1000, config, ws=ws)))
        for ws in report.WS_VARIANTS
    ]


def _variant(name: str, job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return {**job(), "variant": name}


def jobs(config: scenarios.Config, *, quick: bool) -> list[Job]:
    """The scenario runs of one round, each as (label, thunk)."""
    # Quick: the baseline and the typed path only, so that a busy machine still finishes within two minutes.
    fanout_systems = ["raw", "typed"] if quick else ["raw", "typed", "typed-nofast", "node"]
    planned: list[Job] = []
    for clients in (100, 1000):
        for system in fanout_systems:
            planned.append((f"fanout {system} {clients}", partial(scenarios.fanout, system, clients, config)))
    for clients in (100, 1000):
        for system in (s for s in fanout_systems if s != "typed-nofast"):
            planned.append((f"acks {system} {clients}", partial(scenarios.acks, system, clients, config)))
    if quick:
        return planned
    for system in ("raw", "typed", "node"):
        planned.append((f"multiroom {system}", partial(scenarios.multiroom, system, 999, config)))
    for system in ("raw", "typed"):
        planned.append((f"mixed {system}", partial(scenarios.mixed, system, 1000, config)))
    for system in ("raw", "typed"):
        planned.append((f"redis {system}", partial(scenarios.redis, system, 1000, config)))
    for system in ("raw", "typed", "node"):
        planned.append((f"polling {system}", partial(scenarios.polling, system, POLLING_CLIENTS, config)))
    planned += ws_variants(config)
    planned.append(
        (
            "typed asyncio loop",
            lambda: {**scenarios.fanout("typed", 1000, config, loop="asyncio"), "variant": "asyncio"},
        )
    )
    planned.append(
        ("typed deflate", lambda: {**scenarios.fanout("typed", 1000, config, deflate=True), "variant": "deflate"})
    )
    return planned


def run(*, quick: bool, rounds: int, only: set[str] | None = None) -> list[dict[str, Any]]:
    config = scenarios.Config.quick() if quick else scenarios.Config.full()

    def planner() -> list[Job]:
        return [job for job in jobs(config, quick=quick) if only is None or job[0].split()[0] in only]

    return run_rounds(planner, rounds)


def run_rounds(planner: Callable[[], list[Job]], rounds: int) -> list[dict[str, Any]]:
    """Every job of ``planner()`` per round, in reverse order every other round; each record tagged with its round."""
    records: list[dict[str, Any]] = []
    for round_no in range(rounds):
        planned = planner()
        if round_no % 2:
            planned.reverse()
        for label, job in planned:
            started = time.monotonic()
            record = job()
            record["round"] = round_no
            record["load_average_1m"] = os.getloadavg()[0]  # the machine is shared: how busy it was meanwhile
            records.append(record)
            print(f"  {label:<28} {report.one_line(record)}  ({time.monotonic() - started:.0f} s)", flush=True)
    return records


def _key(record: dict[str, Any]) -> tuple[str, str, int, str]:
    return record["scenario"], record["system"], record["clients"], record.get("variant", "")


def combine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (scenario, system, clients, variant): medians of the rounds' numbers."""
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(_key(record), []).append(record)
    combined = []
    for group in groups.values():
        merged: dict[str, Any] = {}
        for key, value in group[0].items():
            values = [record[key] for record in group]
            if isinstance(value, bool):
                merged[key] = all(values)
            elif isinstance(value, int | float) and key not in ("clients", "round"):
                merged[key] = statistics.median(values)
            elif not isinstance(value, list | dict):
                merged[key] = value
        merged["rounds"] = len(group)
        combined.append(merged)
    return combined


def summarize_rounds(records: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """The target ratios of each round, then their medians: systems compared back to back, minutes apart at most.

    On a shared machine the load of other work drifts over a run; a ratio taken
    within one round compares systems measured under the same drift.
    """
    per_round = [report.summary(combine([r for r in records if r["round"] == n])) for n in range(rounds)]
    summary: dict[str, Any] = {}
    for key, value in per_round[0].items():
        values = [s[key] for s in per_round if s[key] is not None]
        if isinstance(value, bool):
            summary[key] = all(values)
        elif key.startswith(("max_", "loadgen_")):
            summary[key] = max(values, default=None)
        else:
            summary[key] = statistics.median(values) if values else None
    summary["per_round"] = per_round
    return summary


PACKAGES = ("python-socketio", "python-engineio", "uvicorn", "uvloop")
"""The Python packages whose versions a run reports."""


def environment() -> dict[str, Any]:
    versions = {name: metadata.version(name) for name in PACKAGES}
    node = json.loads((BENCH_DIR / "node_modules" / "socket.io" / "package.json").read_text())["version"]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {_cpus()} cores",
        "packages": {**versions, "socket.io (node)": node},
    }


def _cpus() -> int:
    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fan-out and acks, raw and typed, one round: about 2 minutes"
    )
    parser.add_argument("--rounds", type=int, help="rounds of the whole series (default: 1 quick, 3 full)")
    parser.add_argument("--only", help="comma-separated scenarios of the series to run (e.g. acks,mixed)")
    parser.add_argument("--name", help="results file name (default: quick or latest)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    name = args.name or ("quick" if args.quick else "latest")
    only = set(args.only.split(",")) if args.only else None
    print(f"bench: {'quick' if args.quick else 'full'} run, {rounds} round(s), results in bench/results/{name}.*")
    records = run(quick=args.quick, rounds=rounds, only=only)
    results = {"environment": environment(), "quick": args.quick, "rounds": rounds, "records": records}
    results["combined"] = combine(records)
    results["summary"] = summarize_rounds(records, rounds)
    paths = report.write(results, BENCH_DIR / "results", name)
    print(report.markdown(results))
    print("written: " + ", ".join(str(path.relative_to(BENCH_DIR.parent)) for path in paths))
    # The deliveries ratio stays the last line: `make bench-quick`'s readers look for it there.
    for key, label in (("acks_typed_over_raw_1000", "ack round trips"), ("typed_over_raw_1000", "deliveries")):
        ratio = results["summary"][key]
        if ratio is not None:
            print(f"typed/raw {label} ratio at 1000 clients: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
