"""uvicorn --workers 2 with PROMETHEUS_MULTIPROC_DIR: whichever worker answers the scrape reports every worker's sum."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack

import httpx
from prometheus_client.parser import text_string_to_metric_families

from eventbus.testing import SocketTestClient
from tests.servers import free_port
from tests.waiting import wait_until

ROOT = pathlib.Path(__file__).parents[2]
SECRET = "multiprocess-test-secret-0123456789abcdef"
Token = Callable[..., str]


async def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url + "/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


async def test_every_scrape_sums_all_workers(tmp_path: pathlib.Path, stack: AsyncExitStack) -> None:
    from eventbus import JWTAuth

    token = JWTAuth(secret=SECRET).issue
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "EVENTBUS_METRICS": "true"}
    env |= {"EVENTBUS_JWT_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "uvicorn", "tests.observability.multiprocess_app:app", "--workers", "2"]
    proc = await asyncio.create_subprocess_exec(*argv, "--port", str(port), "--log-level", "warning", cwd=ROOT, env=env)

    async def stop() -> None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)

    stack.push_async_callback(stop)
    url = f"http://127.0.0.1:{port}"
    pids: set[str] = set()

    async def both_workers_answer() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(10):
                    pids.add((await http.get(url + "/pid", headers={"connection": "close"})).text)
        except httpx.HTTPError:
            return False
        return len(pids) == 2

    await wait_until(both_workers_answer, "both uvicorn workers to answer", timeout=30)

    clients = []
    for n in range(8):
        client = await SocketTestClient(url, token=token(f"user{n}")).connect()
        stack.push_async_callback(client.close)
        clients.append(client)
    accepted = ("eventbus_connects_total", frozenset({("app", "/"), ("result", "accepted")}))
    open_ws = ("eventbus_connections", frozenset({("app", "/"), ("transport", "websocket")}))
    for _ in range(6):  # several scrapes, answered by either worker: each one sums both
        samples = await scrape(url)
        assert samples[accepted] == 8
        assert samples[open_ws] == 8

    for client in clients:
        await client.close()

    async def all_gone() -> bool:
        samples = await scrape(url)
        return samples.get(open_ws) == 0

    await wait_until(all_gone, "every worker to count its clients gone")
    for _ in range(4):
        samples = await scrape(url)
        assert samples[open_ws] == 0
        ended = sum(v for (name, _), v in samples.items() if name == "eventbus_disconnects_total")
        assert ended == 8
