"""``python -m bench.interpreters [--rounds 3]``: the typed server under this Python and under 3.13, in one run.

Only the server process changes: it runs under ``sys.executable`` (the machine's
3.11) or in the Debian trixie chroot of ``make py313`` (`devtools.py313`), which
shares the network namespace, so a server there listens on 127.0.0.1 for the
Node load generator outside; the load generator, the scenarios and their
settings are those of ``python -m bench``. Each round measures typed acks at 100
and 1,000 clients and the typed fan-out at 1,000 clients (bursts, then paced)
under each interpreter back to back, in reverse order every other round; the
ratios (3.13 over this Python) are taken within each round, then their median.
Writes ``bench/results/interpreters.{json,md}``; needs root (chroot).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from bench import run, scenarios
from bench.processes import BENCH_DIR
from devtools import py313

if TYPE_CHECKING:
    from collections.abc import Callable


class Measure(NamedTuple):
    """One figure compared between the interpreters."""

    label: str
    scenario: str
    clients: int
    key: str
    fmt: str
    unit: str

    @property
    def name(self) -> str:
        """Its key in the summary, e.g. ``acks_100_round_trips_per_s``."""
        return f"{self.scenario}_{self.clients}_{self.key}"

    def value(self, records: list[dict[str, Any]], python: str) -> float | None:
        """The median of the records' figures under ``python``."""
        found = [
            r[self.key]
            for r in records
            if (r["scenario"], r["clients"], r["python"]) == (self.scenario, self.clients, python) and self.key in r
        ]
        return float(statistics.median(found)) if found else None

    def ratio(self, records: list[dict[str, Any]], new: str, old: str) -> float | None:
        a, b = self.value(records, new), self.value(records, old)
        return None if a is None or not b else a / b


MEASURES = [
    Measure("typed acks, 100 clients", "acks", 100, "round_trips_per_s", ",.0f", "round trips/s"),
    Measure("server CPU per ack round trip, 100 clients", "acks", 100, "server_cpu_us_per_round_trip", ".1f", "µs"),
    Measure("typed acks, 1,000 clients", "acks", 1000, "round_trips_per_s", ",.0f", "round trips/s"),
    Measure("server CPU per ack round trip, 1,000 clients", "acks", 1000, "server_cpu_us_per_round_trip", ".1f", "µs"),
    Measure("typed broadcast, 1,000 clients", "fanout", 1000, "deliveries_per_s", ",.0f", "deliveries/s"),
    Measure("server CPU per delivery, 1,000 clients", "fanout", 1000, "server_cpu_us_per_delivery", ".1f", "µs"),
    Measure("paced p99 (2k deliveries/s), 1,000 clients", "fanout", 1000, "paced_p99_ms", ".1f", "ms"),
    Measure("RSS per idle connection, 1,000 clients", "fanout", 1000, "rss_per_idle_connection_bytes", ",.0f", "bytes"),
]


def jobs(config: scenarios.Config, pythons: dict[str, list[str]]) -> list[run.Job]:
    """One round: acks at 100 and 1,000 clients, then the fan-out, each under every interpreter in turn."""
    planned: list[run.Job] = []
    for scenario, clients in (("acks", 100), ("acks", 1000), ("fanout", 1000)):
        measure = partial(getattr(scenarios, scenario), "typed", clients, config)
        planned += [
            (f"{scenario} typed {clients} py{label}", partial(_measure, measure, label, argv))
            for label, argv in pythons.items()
        ]
    return planned


def _measure(scenario: Callable[..., dict[str, Any]], label: str, argv: list[str]) -> dict[str, Any]:
    return {**scenario(python=argv), "variant": f"python {label}", "python": label}


def ratios(records: list[dict[str, Any]], new: str, old: str) -> dict[str, Any]:
    """Each measure's ``new`` over ``old`` within each round, and the median of those."""
    per_round = [
        {m.name: m.ratio([r for r in records if r["round"] == n], new, old) for m in MEASURES}
        for n in sorted({r["round"] for r in records})
    ]
    summary: dict[str, Any] = {}
    for measure in MEASURES:
        values = [value for r in per_round if (value := r[measure.name]) is not None]
        summary[measure.name] = statistics.median(values) if values else None
    summary["exactly_once_everywhere"] = all(r.get("exactly_once", True) for r in records)
    summary["per_round"] = per_round
    return summary


def markdown(results: dict[str, Any], new: str, old: str) -> str:
    """Medians per interpreter, the ratio (median of the rounds' ratios) and every round's ratio and load."""
    records, summary = results["records"], results["summary"]
    rounds = summary["per_round"]
    head = f"| measure | Python {old} | Python {new} | {new} / {old} | " + " | ".join(
        f"round {n}" for n in range(1, len(rounds) + 1)
    )
    lines = [head + " |", "|---|---|---|---|" + "---|" * len(rounds)]
    for measure in MEASURES:
        cells = [measure.value(records, python) for python in (old, new)]
        shown = ["-" if c is None else format(c, measure.fmt) for c in cells]
        per = ["-" if r[measure.name] is None else f"{r[measure.name]:.2f}x" for r in rounds]
        ratio = summary[measure.name]
        lines.append(
            f"| {measure.label} ({measure.unit}) | {' | '.join(shown)} | "
            f"{'-' if ratio is None else f'**{ratio:.2f}x**'} | " + " | ".join(per) + " |"
        )
    env = results["environment"]
    loads = "; ".join(f"{low:.1f} to {high:.1f}" for low, high in results["load_average"])
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    chroot = env["py313_packages"]
    same = all(env["packages"][name] == version for name, version in chroot.items())
    under_new = (
        "the same under both" if same else "under " + new + ": " + ", ".join(f"{k} {v}" for k, v in chroot.items())
    )
    loadgen = max(r.get("loadgen_cpu_share", 0) for r in records)
    lines += [
        "",
        f"Medians of {results['rounds']} round(s); {env['date']}; servers under Python {old} (this machine) and "
        f"{new} ({env['py313']}, the chroot of make py313), {env['machine']}; {packages} ({under_new}).",
        f"Load average (1 min, taken after each measurement) per round: {loads}, on a machine shared with other work.",
        f"Every client got every message exactly once: {'yes' if summary['exactly_once_everywhere'] else 'NO'}. "
        f"Load generator CPU at most {loadgen:.0%} of one core.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.interpreters", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="interpreters", help="results file name (default: interpreters)")
    args = parser.parse_args(argv)
    config = scenarios.Config.full()
    old = platform.python_version().rsplit(".", 1)[0]
    new = py313.version().split()[1].rsplit(".", 1)[0]
    pythons = {old: [sys.executable], new: py313.command(["python"])}
    started = datetime.datetime.now(datetime.UTC)
    print(f"bench.interpreters: {args.rounds} round(s), Python {old} and {new}, results in bench/results/{args.name}.*")
    with py313.mounted():
        records = run.run_rounds(partial(jobs, config, pythons), args.rounds)
    load_average = [
        (min(loads), max(loads))
        for n in range(args.rounds)
        if (loads := [r["load_average_1m"] for r in records if r["round"] == n])
    ]
    results: dict[str, Any] = {
        "environment": {**run.environment(), "py313": py313.version(), "py313_packages": py313.versions(run.PACKAGES)},
        "command": f"python -m bench.interpreters --rounds {args.rounds}",
        "started": started.isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "load_average": load_average,
        "records": records,
    }
    results["summary"] = ratios(records, new, old)
    text = f"Run: `{results['command']}`, started {started:%Y-%m-%d %H:%M} UTC.\n\n{markdown(results, new, old)}"
    directory = BENCH_DIR / "results"
    (directory / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (directory / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
