"""MkDocs hook: the parts of the docs generated from the code when the site is built, so they cannot drift.

- ``<!-- eventbus-settings-table -->`` becomes the configuration table: one row per
  field of `eventbus.settings.EventBusSettings` (its environment variable, type,
  default and description).
- ``<!-- command-help: eventbus token -->`` becomes what ``eventbus token --help``
  prints (any ``eventbus`` command line; run as ``python -m eventbus.cli``).
- ``<!-- module-table: eventbus -->`` becomes a table of the package's modules, each
  with the first line of its docstring (read with `ast`, nothing imported).
- ``<!-- bench-per-round -->`` becomes a table of the latest benchmark run's main
  ratios, round by round, from ``bench/results/latest.json``.
- The benchmark's chart, ``bench/results/latest.png``, is published as
  ``assets/bench-latest.png``.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import subprocess
import sys
import types
import typing
from typing import Any

from mkdocs.structure.files import File, Files
from pydantic import SecretStr

from eventbus.settings import EventBusSettings

if typing.TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from pydantic.fields import FieldInfo

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "bench" / "results" / "latest.png"
RESULTS = ROOT / "bench" / "results" / "latest.json"
PER_ROUND = "<!-- bench-per-round -->"
RATIOS = {  # keys of the report's summary, and what each ratio compares
    "typed_over_raw_1000": "typed / raw python-socketio, deliveries/s, 1,000 clients",
    "typed_over_nofast_1000": "fast path alone: typed / typed with EVENTBUS_FAST_EMIT=false",
    "typed_over_node_1000": "typed / Node socket.io, 1,000 clients",
    "paced_p99_typed_over_raw_1000": "paced p99 latency, typed / raw",
    "acks_typed_over_raw": "client events with acks, round trips/s, typed / raw",
    "redis_typed_over_in_memory": "Redis (2 processes) / in memory, typed",
    "no_deflate_over_deflate_typed": "permessage-deflate off / on, typed",
    "uvloop_over_asyncio_typed": "uvloop / asyncio's loop, typed",
}

MARKER = "<!-- eventbus-settings-table -->"
HELP = re.compile(r"<!-- command-help: eventbus(?P<args>[^>]*?) -->")
MODULES = re.compile(r"<!-- module-table: (?P<package>[\w.]+) -->")


def _comma_separated() -> set[str]:
    # The fields whose environment value is "a,b,c" rather than JSON: those the model splits before validating.
    decorators = EventBusSettings.__pydantic_decorators__.field_validators.values()
    return {
        name for decorator in decorators if decorator.func.__name__ == "_split_commas" for name in decorator.info.fields
    }


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return " / ".join(f"`{arg}`" for arg in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(map(str, value))}`" if value else "none"
    return f"`{value}`"


def settings_table() -> str:
    """The Markdown table of every `EventBusSettings` field, in declaration order."""
    prefix = EventBusSettings.model_config.get("env_prefix", "")
    commas = _comma_separated()
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in EventBusSettings.model_fields.items():
        kind = _type_name(field.annotation) + (", comma-separated" if name in commas else "")
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {kind} | {_default(field)} | {description} |")
    return "\n".join(rows)


def command_help(args: str) -> str:
    """What ``eventbus ARGS --help`` prints, as a fenced block (80 columns, whatever the terminal)."""
    result = subprocess.run(
        [sys.executable, "-m", "eventbus.cli", *args.split(), "--help"],
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    text = (result.stdout or result.stderr).rstrip()
    if not text.startswith("usage:"):
        raise RuntimeError(f"eventbus{args} --help printed no usage (exit {result.returncode}): {result.stderr}")
    return f"```text\n{text}\n```"


def module_table(package: str) -> str:
    """Every module of ``package`` (sub-packages included), with the first line of its docstring."""
    directory = ROOT.joinpath(*package.split("."))
    rows = ["| module | holds |", "|---|---|"]
    for path in sorted(directory.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        summary = docstring.strip().splitlines()[0].replace("|", "\\|") if docstring.strip() else ""
        rows.append(f"| `{name}` | {summary} |")
    return "\n".join(rows)


def per_round_table() -> str:
    """The main ratios of ``bench/results/latest.json``: the median the report gives, then each round."""
    summary = json.loads(RESULTS.read_text())["summary"]
    rounds = summary["per_round"]
    header = "| ratio | median | " + " | ".join(f"round {n}" for n in range(1, len(rounds) + 1)) + " |"
    rows = [header, "|---|---|" + "---|" * len(rounds)]
    for key, label in RATIOS.items():
        cells = [f"{summary[key]:.2f}x", *(f"{r[key]:.2f}x" if r.get(key) is not None else "-" for r in rounds)]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the markers with the generated tables and help texts."""
    markdown = markdown.replace(MARKER, settings_table())
    if PER_ROUND in markdown:
        markdown = markdown.replace(PER_ROUND, per_round_table())
    markdown = MODULES.sub(lambda match: module_table(match["package"]), markdown)
    return HELP.sub(lambda match: command_help(match["args"]), markdown)


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Publish the benchmark's chart, which lives beside its report rather than under docs/."""
    files.append(File.generated(config, "assets/bench-latest.png", abs_src_path=str(CHART)))
    return files
