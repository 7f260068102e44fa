"""``make demo-cluster``'s script, ``python -m examples.chat.cluster``: six Redis nodes, two demo processes, Ctrl-C.

About 15 s (a Redis Cluster and two demo processes start), so outside the default suite:
``make test-demo-cluster`` runs it.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from eventbus import JWTAuth
from eventbus.testing import SocketTestClient
from tests.demo_server import ROOT
from tests.redis_cluster import requires_cluster_client
from tests.servers import free_port

pytestmark = [pytest.mark.redis, pytest.mark.demo_cluster, requires_cluster_client]

SECRET = "demo-cluster-secret-0123456789abcdef0123"
READY = re.compile(r"demo-cluster: ready on (\S+) and (\S+), Redis Cluster (\S+) in (\S+)")


@pytest.fixture
def demo_cluster() -> Iterator[tuple[subprocess.Popen[str], re.Match[str]]]:
    """The script, started as ``make demo-cluster`` starts it, with the tests' raw-emit endpoint turned on."""
    env = {**os.environ, "EVENTBUS_JWT_SECRET": SECRET, "CHAT_TEST_HOOKS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("EVENTBUS_REDIS_URL", None)
    ports = f"{free_port()},{free_port()}"
    script = subprocess.Popen(
        [sys.executable, "-m", "examples.chat.cluster", "--ports", ports],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert script.stdout is not None
        for line in script.stdout:  # bounded by the script's own startup timeouts (it exits when one expires)
            output.append(line)
            if ready := READY.search(line):
                yield script, ready
                break
        else:
            pytest.fail(f"the script exited with {script.wait()} before it was ready:\n{''.join(output)[-4000:]}")
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        if script.stdout is not None:
            script.stdout.close()


async def test_two_demo_processes_on_a_redis_cluster_deliver_each_others_events_and_ctrl_c_cleans_up(
    demo_cluster: tuple[subprocess.Popen[str], re.Match[str]],
) -> None:
    script, ready = demo_cluster
    first, second, redis_url, directory = ready.groups()
    assert redis_url.startswith("redis+cluster://"), redis_url
    assert redis_url.count(",") == 5, redis_url  # six nodes
    async with httpx.AsyncClient() as http:
        for url in (first, second):
            assert (await http.get(f"{url}/api/users")).status_code == 200

        auth = JWTAuth(secret=SECRET)
        bob = await SocketTestClient(second, token=auth.issue("bob")).connect()
        try:
            # From the first process to bob's user room, whose socket is on the second: a partition channel
            # of the cluster (SPUBLISH/SSUBSCRIBE) carries it.
            reply = await http.post(
                f"{first}/api/test/emit",
                json={"event": "notice", "payload": {"text": "over the cluster"}, "room": "user:bob"},
            )
            assert reply.status_code == 202, reply.text
            assert await bob.inbox.wait_for("notice", 1, timeout=10) == [{"text": "over the cluster"}]

            # The chat itself: a presence room with history, so its keys sit in its partition's slot; alice on the
            # first process, bob on the second, each sees the other join and gets the other's message.
            alice = await SocketTestClient(first, token=auth.issue("alice")).connect()
            try:
                assert (await alice.call("join_chat", {"chat_id": "design"}))["ok"]
                joined = await bob.call("join_chat", {"chat_id": "design"})
                assert joined["ok"], joined
                assert {m["user_id"] for m in joined["members"]} == {"alice", "bob"}, joined
                sent = await alice.call("send_message", {"chat_id": "design", "text": "hello from 8000"})
                assert sent["ok"], sent
                received = await bob.inbox.wait_for("message", 1, timeout=10)
                assert "hello from 8000" in repr(received), received
                history = await bob.call("history", {"room": "chat:design", "limit": 5})
                # The newest publication (the demo may have posted its own welcome messages before).
                assert "hello from 8000" in repr(history["data"]["publications"][-1]), history
            finally:
                await alice.close()
        finally:
            await bob.close()

    script.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert await asyncio.to_thread(script.wait, 30) == 0
    assert script.stdout is not None
    assert f"{directory} removed" in await asyncio.to_thread(script.stdout.read)
    assert not await asyncio.to_thread(pathlib.Path(directory).exists)
