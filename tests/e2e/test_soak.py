"""A short soak in the default suite: ``make soak`` for about 25 seconds in all, failing on any leak it can see.

It checks counters, never wall-clock figures or memory: per-connection state back to zero, connections, file
descriptors and asyncio tasks back to their baseline once the Node clients have left.
"""

from __future__ import annotations

import pathlib

import pytest

from tests import soak

pytestmark = [pytest.mark.redis, pytest.mark.node]


async def test_a_short_soak_leaves_no_state_no_fds_and_no_tasks_behind(tmp_path: pathlib.Path) -> None:
    report = await soak.run(8, tmp_path, clients=60, stallers=2)
    print((tmp_path / "soak.md").read_text())
    assert all(report["sessions"][ending] for ending in soak.ENDINGS), report["sessions"]
    # Not whether a staller was dropped within 8 s: that takes a few seconds of broadcasts, fewer on a loaded
    # machine (tests/e2e/test_slow_consumers.py checks the drops); a staller dropped is one the server dropped.
    assert report["errors"] == {}
    assert report["slow_consumer_log_lines"] >= report["sessions"]["slow"]
    assert report["publish_errors"] == {}
    assert report["state_back_to_zero"], report["state_after"]
    assert report["connections_back_to_baseline"], (report["baseline"], report["end"])
    assert report["fds_back_to_baseline"], (report["baseline"], report["end"])
    assert report["tasks_back_to_baseline"], (report["baseline"], report["end"])
