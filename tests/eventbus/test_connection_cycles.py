"""1,000 connections that come and go, every way a session can end: nothing they created is left behind.

Counted, not trusted: `tests.state.state_counts` reads every per-connection structure of the bus,
python-socketio and python-engineio, and each must be back to zero once the clients have left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from eventbus import EventBus, EventBusSettings, JWTAuth
from events import Room
from tests.raw import RawWebSocket, event_packet
from tests.sample import LobbyRoom
from tests.state import leftovers, state_counts
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]

KINDS = ("clean", "abrupt", "kick", "expiry", "garbage", "refused", "slow")
CYCLES = 1000
BATCH = 250


class SpotRoom(Room, prefix="spot", presence=True, public=True):
    spot: str


async def cycle(bus: EventBus, url: str, auth: JWTAuth, kind: str, n: int) -> str:
    """One connection that joins two rooms (one with presence) and ends the ``kind`` way; returns how it ended."""
    user = f"u{n % BATCH}"
    ttl = 2 if kind == "expiry" else 600  # exp is whole seconds: expires within 1-2 s
    if kind == "refused":
        user = "crowd"  # max_connections_per_user=3, and a batch has more of them: some are refused
    raw = RawWebSocket(url)
    try:
        await raw.open()
        await raw.send("40" + json.dumps({"token": auth.issue(user, ttl=ttl)}))
        reply = await raw.recv()
        assert isinstance(reply, str)
        if reply.startswith("44"):
            assert kind == "refused", (kind, reply)
            assert json.loads(reply[2:]) == {"message": "too_many_connections"}
            return "refused"
        assert (await raw.call("join_lobby", {}))["ok"]
        assert (await raw.call("join_spot", {"spot": str(n % 7)}, ack=2))["ok"]
        sid = json.loads(reply[2:])["sid"]
        if kind == "clean":
            await raw.send("41")
            await raw.send("1")
        elif kind == "kick":
            await bus.disconnect(sid, reason="kicked")
            await until_ended(raw)
        elif kind in ("expiry", "garbage"):
            if kind == "garbage":
                for _ in range(30):
                    await raw.send(event_packet("join_lobby", [[[]]], 3)[:-1])
            await until_ended(raw)
        elif kind == "refused":
            await asyncio.sleep(0.05)
        return kind
    finally:
        await raw.close()  # "abrupt": this is all it does


async def until_ended(raw: RawWebSocket) -> None:
    """Read until the server disconnects the namespace (``41``) or closes engine.io (``1``, or the socket)."""
    while True:
        frame = await raw.next_frame(10)
        if frame is None or (isinstance(frame, str) and frame.startswith(("41", "1"))):
            return
        if frame == "2":
            await raw.send("3")


async def slow_cycles(bus: EventBus, url: str, auth: JWTAuth, count: int) -> None:
    """``count`` clients that stop reading while the lobby gets broadcasts, until each is dropped."""
    raws = [await RawWebSocket(url).open(auth.issue(f"slow{i}")) for i in range(count)]
    for raw in raws:
        assert (await raw.call("join_lobby", {}))["ok"]
    pad = "x" * 4000
    deadline = time.monotonic() + 30
    while bus.send_limits.dropped < count:
        assert time.monotonic() < deadline, bus.send_limits.dropped
        for _ in range(50):
            await bus.emit_to_room(LobbyRoom(), "tick", {"pad": pad})
        await asyncio.sleep(0)
    for raw in raws:
        await raw.close()


async def test_a_thousand_sessions_of_every_kind_leave_nothing_behind(jwt_auth: JWTAuth, serve: Serve) -> None:
    bus = EventBus(
        auth=jwt_auth,
        rooms=[LobbyRoom, SpotRoom],
        settings=EventBusSettings(max_connections_per_user=3, max_queue_bytes=64 * 1024, write_timeout=1),
    )
    url = await serve(bus.asgi_app())
    assert leftovers(bus) == {}
    ended: Counter[str] = Counter()
    kinds = [kind for kind in KINDS if kind != "slow"]
    for start in range(0, CYCLES - 20, BATCH):
        results = await asyncio.gather(
            *(
                cycle(bus, url, jwt_auth, kinds[n % len(kinds)], n)
                for n in range(start, min(start + BATCH, CYCLES - 20))
            )
        )
        ended.update(results)
    await slow_cycles(bus, url, jwt_auth, 20)
    ended["slow"] += 20
    assert sum(ended.values()) == CYCLES
    assert set(ended) == set(KINDS), ended
    with contextlib.suppress(TimeoutError):
        await wait_until(lambda: not leftovers(bus), "every counter back to zero", 15)
    assert leftovers(bus) == {}, state_counts(bus)
