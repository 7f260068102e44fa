"""What docs/hooks/generated.py writes into the pages: it must follow the code it is generated from."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
from types import ModuleType

import pytest

from eventbus import EventBusSettings
from tests.docs.tutorial import ROOT


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks" / "generated.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_table_has_a_row_per_setting(hooks: ModuleType) -> None:
    rows = hooks.settings_table().splitlines()[2:]

    assert [row.split(" | ")[0] for row in rows] == [
        f"| `EVENTBUS_{name.upper()}`" for name in EventBusSettings.model_fields
    ]
    assert "| `EVENTBUS_RATE_LIMIT` | float | `100` | Client events and joins per second per connection. |" in rows
    assert any(
        row.startswith("| `EVENTBUS_TRANSPORTS` | list of `polling` / `websocket`, comma-separated |") for row in rows
    )
    assert any(row.startswith("| `EVENTBUS_JWT_SECRET` | secret | unset |") for row in rows)


def test_the_marker_is_on_the_configuration_page(hooks: ModuleType) -> None:
    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()

    assert hooks.MARKER in page
    assert "| `EVENTBUS_MAX_ROOMS` |" in hooks.on_page_markdown(page)


def test_the_module_table_lists_the_sub_packages(hooks: ModuleType) -> None:
    table = hooks.module_table("eventbus")

    for package in ("eventbus.inbound", "eventbus.presence", "eventbus.transport", "eventbus.transport.fastpath"):
        assert f"| `{package}` |" in table


def test_the_command_help_is_what_the_command_prints(hooks: ModuleType) -> None:
    text = hooks.on_page_markdown("<!-- command-help: eventbus token -->")

    assert text.startswith("```text\nusage: eventbus token")
    assert "--user USER" in text


def test_the_chart_exists() -> None:
    assert pathlib.Path(ROOT / "bench" / "results" / "latest.png").is_file()


def test_the_per_round_table_comes_from_the_latest_run(hooks: ModuleType) -> None:
    table = hooks.per_round_table()

    assert table.splitlines()[0] == "| ratio | median | round 1 | round 2 | round 3 |"
    assert len(table.splitlines()) == 2 + len(hooks.RATIOS)


RUNS = ("latest.json", "outbound.json", "acks.json", "interpreters.json", "asgi_servers.json")


def test_per_round_figures_in_the_prose_are_the_latest_runs() -> None:
    # The prose quotes some ratios round by round; re-running the benchmark must not leave them behind.
    # They come from `make bench` (latest.json) or, in the outbound, acks, Python 3.13 and ASGI servers sections,
    # `python -m bench.outbound` (outbound.json), `python -m bench --only acks,mixed --name acks` (acks.json),
    # `python -m bench.interpreters` (interpreters.json) and `python -m bench.asgi_servers` (asgi_servers.json).
    summaries = [json.loads((ROOT / "bench" / "results" / name).read_text())["summary"] for name in RUNS]
    measured = {
        tuple(f"{r[key]:.2f}" for r in summary["per_round"])
        for summary in summaries
        for key, value in summary.items()
        if isinstance(value, float) and all(isinstance(r.get(key), float) for r in summary["per_round"])
    }
    prose = (ROOT / "docs" / "performance.md").read_text()
    quoted = re.findall(r"(\d+\.\d\d)x,\s+(\d+\.\d\d)x,?\s+(?:and\s+)?(\d+\.\d\d)x", prose)

    assert len(quoted) >= 5
    assert [triple for triple in quoted if triple not in measured] == []
