"""Applications across processes on a real Redis: emits stay in their application, disconnect_user reaches all.

The servers declare ``/admin`` through ``EVENTBUS_APPS``, the configuration a
deployment would use; the clients are real python-socketio clients on both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from tests.clients import PyClient
from tests.e2e.cluster import Cluster
from tests.waiting import wait_until

pytestmark = [pytest.mark.redis]

StartCluster = Callable[..., Awaitable[Cluster]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]

ADMIN = "/admin"
APPS = json.dumps([{"path": ADMIN}])
WAIT = 10.0


async def test_emits_stay_in_their_application_and_disconnect_user_reaches_every_process(
    cluster: StartCluster, py_client: Connect, token: Token
) -> None:
    nodes = await cluster(apps=APPS)
    a, b = nodes.servers
    emitter = nodes.sources["async"]
    alice_tabs = [await py_client(server.url, token=token("alice")) for server in (a, b)]
    alice_console = await py_client(b.url, token=token("alice"), namespace=ADMIN)
    bob_tab = await py_client(a.url, token=token("bob"))
    bob_console = await py_client(b.url, token=token("bob"), namespace=ADMIN)

    # From A, which holds none of alice's /admin connections, and from a process that holds no sockets at all.
    assert await a.run([{"op": "notice_user", "app": ADMIN, "user": "alice", "data": {"from": "A"}}]) == [{"ok": True}]
    assert await emitter.run([{"op": "notice_user", "app": ADMIN, "user": "alice", "data": {"from": "emitter"}}]) == [
        {"ok": True}
    ]
    assert await b.run([{"op": "notice_user", "user": "alice", "data": {"from": "B to /"}}]) == [{"ok": True}]
    assert await alice_console.inbox.wait_for("notice", 2, timeout=WAIT) == [{"from": "A"}, {"from": "emitter"}]
    for tab in alice_tabs:
        assert await tab.inbox.wait_for("notice", 1, timeout=WAIT) == [{"from": "B to /"}]
    await b.run([{"op": "notice_user", "app": ADMIN, "user": "alice", "data": {"from": "last"}}])
    await alice_console.inbox.wait_for("notice", 3, timeout=WAIT)
    assert [n["from"] for n in alice_console.received("notice")] == ["A", "emitter", "last"]  # each exactly once
    assert [n["from"] for tab in alice_tabs for n in tab.received("notice")] == ["B to /", "B to /"]

    # The bus's disconnect_user, on A: every connection of alice, in both applications, on both processes.
    assert await a.run([{"op": "disconnect_user", "user": "alice", "reason": "banned"}]) == [{"ok": True}]
    for client in (*alice_tabs, alice_console):
        assert await client.inbox.wait_for("session_ended", timeout=WAIT) == [{"reason": "banned"}]
        await wait_until(lambda c=client: not c.sio.connected, "alice's connection to close", timeout=WAIT)  # type: ignore[misc]
    assert bob_tab.sio.connected
    assert bob_console.sio.connected

    # An application's disconnect_user, from the emitter: bob's console goes, his tab of "/" stays.
    assert await emitter.run([{"op": "disconnect_user", "app": ADMIN, "user": "bob"}]) == [{"ok": True}]
    await wait_until(lambda: not bob_console.sio.connected, "bob's console to close", timeout=WAIT)
    assert bob_console.received("session_ended") == []
    await a.run([{"op": "notice_user", "user": "bob", "data": {"still": "here"}}])
    assert await bob_tab.inbox.wait_for("notice", timeout=WAIT) == [{"still": "here"}]
    assert bob_tab.sio.connected
