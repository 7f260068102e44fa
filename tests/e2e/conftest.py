"""Fixtures of the multi-process tests: a cluster of real server and emitter processes on a real Redis."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from tests.conftest import SECRET
from tests.e2e.cluster import Cluster, environment
from tests.redis_server import RedisServer

SIGNING_KEY = "e2e-signing-key-0123456789abcdef"


@pytest.fixture
def cluster(
    redis_server: RedisServer, stack: AsyncExitStack, tmp_path: pathlib.Path
) -> Callable[..., Awaitable[Cluster]]:
    """``await cluster(signing_key=..., presence_ttl="2")``: servers A, B and both emitters, stopped after the test.

    Each process's log is printed at teardown, so a failing test shows them.
    """

    async def start(*, signing_key: str | None = SIGNING_KEY, **settings: str) -> Cluster:
        env = environment(
            redis_url=redis_server.url,
            redis_channel=f"e2e-{uuid.uuid4().hex[:8]}",
            redis_signing_key=signing_key,
            jwt_secret=SECRET,
            **settings,
        )
        started = Cluster(tmp_path, env)
        stack.push_async_callback(_stop_and_print, started)
        return await started.start()

    return start


async def _stop_and_print(started: Cluster) -> None:
    await started.stop()
    print(started.logs())
