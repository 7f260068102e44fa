"""The outbound path's figures alone: burst and paced latency, Redis paced, long-polling, uvicorn's websocket choices.

``python -m bench.outbound [--rounds 3]``: the scenarios of ``python -m bench``
that issue 18's outbound targets are about, every round in the same order as the
full run (reversed every other round), in about 4 minutes a round. Writes
``bench/results/outbound.{json,md}``; the markdown ends with the target ratios of
each round, taken between systems measured minutes apart at most.
"""

from __future__ import annotations

import argparse
import datetime
import json
from functools import partial

from bench import report, run, scenarios
from bench.processes import BENCH_DIR

PER_ROUND = {
    "typed_over_raw_1000": "typed / raw deliveries/s, 1,000 clients",
    "typed_over_node_1000": "typed / Node deliveries/s, 1,000 clients",
    "burst_p99_typed_over_raw_1000": "burst p99, typed / raw",
    "paced_p99_typed_over_raw_1000": "paced p99, typed / raw",
    "paced_p99_typed_over_node_1000": "paced p99, typed / Node",
    "redis_typed_over_in_memory": "Redis (2 processes) / in-memory deliveries/s, typed",
    "redis_paced_p99_typed_over_raw": "Redis paced p99, typed / raw",
    "polling_typed_over_raw": "long-polling deliveries/s, typed / raw",
    "polling_typed_over_node": "long-polling deliveries/s, typed / Node",
    **{f"ws_{ws}_over_sansio_typed": f"uvicorn --ws {ws} / websockets-sansio, typed" for ws in report.WS_VARIANTS},
}


def jobs(config: scenarios.Config) -> list[run.Job]:
    """One round: fan-out at 1,000 clients (bursts, then paced), Redis, long-polling, the websocket variants."""
    planned: list[run.Job] = [
        (f"fanout {system} 1000", partial(scenarios.fanout, system, 1000, config))
        for system in ("raw", "typed", "node")
    ]
    planned += [(f"redis {system}", partial(scenarios.redis, system, 1000, config)) for system in ("raw", "typed")]
    planned += [
        (f"polling {system}", partial(scenarios.polling, system, run.POLLING_CLIENTS, config))
        for system in ("raw", "typed", "node")
    ]
    return planned + run.ws_variants(config)


def per_round_table(summary: dict[str, object]) -> str:
    """Each ratio of `PER_ROUND`: the median over rounds, then every round's value."""
    rounds = summary["per_round"]
    assert isinstance(rounds, list)
    header = "| ratio | median | " + " | ".join(f"round {n}" for n in range(1, len(rounds) + 1)) + " |"
    rows = [header, "|---|---|" + "---|" * len(rounds)]
    for key, label in PER_ROUND.items():
        values = [summary.get(key), *(r.get(key) for r in rounds)]
        rows.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.2f}x" for v in values) + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    config = scenarios.Config.full()
    print(f"bench.outbound: {args.rounds} round(s), results in bench/results/outbound.*", flush=True)
    started = datetime.datetime.now(datetime.UTC)
    records = run.run_rounds(partial(jobs, config), args.rounds)
    results = {"environment": run.environment(), "quick": False, "rounds": args.rounds, "records": records}
    results["combined"] = run.combine(records)
    results["summary"] = run.summarize_rounds(records, args.rounds)
    name = f"`python -m bench.outbound --rounds {args.rounds}`, started {started:%Y-%m-%d %H:%M} UTC"
    text = f"Run: {name}.\n\n{report.markdown(results)}\n{per_round_table(results['summary'])}"
    directory = BENCH_DIR / "results"
    (directory / "outbound.json").write_text(json.dumps(results, indent=1) + "\n")
    (directory / "outbound.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
