"""Presence rooms on one process, over the wire: members once per user, join/leave events once per transition."""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from eventbus.presence.service import member_of, presence_room
from events import PresenceMember, Room, User
from tests.clients import PyClient
from tests.e2e.model import DocRoom, TeamRoom
from tests.presence_scenario import PAYLOAD, ROOM, Scenario, Tab, run_steps
from tests.redis_server import RedisServer
from tests.state import leftovers
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]

TABS = {"alice": "alice", "bob1": "bob", "bob2": "bob", "carol": "carol", "alice2": "alice"}


async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[DocRoom, TeamRoom])
    return bus, await serve(bus.asgi_app())


async def test_every_view_matches_the_truth_and_events_go_once_per_user(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus, url = await served(jwt_auth, serve)

    async def fence(tabs: list[Tab]) -> None:
        for tab in tabs:
            await tab.client.fence(bus)

    async def members() -> set[str]:
        return {member.user_id for member in await bus.presence(ROOM)}

    scenario = Scenario(fence)
    for name, user in TABS.items():
        scenario.add(Tab(name, user, await py_client(url, token=token(user))))

    await run_steps(scenario, members)

    assert await bus.presence(DocRoom(doc_id="d1")) == []


async def test_join_ack_and_events_carry_the_typed_info(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus, url = await served(jwt_auth, serve)
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))

    assert await alice.call("join_sheet", PAYLOAD) == {
        "ok": True,
        "room": ROOM,
        "members": [{"user_id": "alice", "info": {"name": "Alice"}}],
    }
    ack = await bob.call("join_sheet", PAYLOAD)
    assert ack["members"] == [
        {"user_id": "alice", "info": {"name": "Alice"}},
        {"user_id": "bob", "info": {"name": "Bob"}},
    ]
    assert await alice.inbox.wait_for("presence_join") == [
        {"room": ROOM, "member": {"user_id": "bob", "info": {"name": "Bob"}}}
    ]
    await bob.close()
    assert await alice.inbox.wait_for("presence_leave") == [
        {"room": ROOM, "member": {"user_id": "bob", "info": {"name": "Bob"}}}
    ]
    await alice.fence(bus)
    assert alice.received("presence_join") == [{"room": ROOM, "member": {"user_id": "bob", "info": {"name": "Bob"}}}]


async def test_non_presence_rooms_keep_the_plain_join_ack(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus, url = await served(jwt_auth, serve)
    alice = await py_client(url, token=token("alice"))
    assert await alice.call("join_team", {"team_id": "t1"}) == {"ok": True, "room": "team:t1"}
    await alice.fence(bus)
    assert alice.received("presence_join") == []


async def test_server_side_joins_and_leaves_record_presence(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus, url = await served(jwt_auth, serve)
    alice = await py_client(url, token=token("alice"))
    bob = await py_client(url, token=token("bob"))
    await alice.call("join_sheet", PAYLOAD)

    await bus.join_room(bob.sid, DocRoom(doc_id="d1"))
    assert [m.user_id for m in await bus.presence(ROOM)] == ["alice", "bob"]
    await bus.join_room(bob.sid, ROOM)  # again, by name: nothing changes
    await bus.leave_room(bob.sid, ROOM)

    assert [m.user_id for m in await bus.presence(ROOM)] == ["alice"]
    await alice.fence(bus)
    assert [e["member"]["user_id"] for e in alice.received("presence_join")] == ["bob"]
    assert [e["member"]["user_id"] for e in alice.received("presence_leave")] == ["bob"]


async def test_presence_query_for_members_and_joinable_connections_only(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    _, url = await served(jwt_auth, serve)
    alice = await py_client(url, token=token("alice"))
    carol = await py_client(url, token=token("carol"))
    mallory = await py_client(url, token=token("mallory"))
    await alice.call("join_sheet", PAYLOAD)
    expected = {"ok": True, "data": {"room": ROOM, "members": [{"user_id": "alice", "info": {"name": "Alice"}}]}}

    assert await alice.call("presence", {"room": ROOM}) == expected
    assert await carol.call("presence", {"room": ROOM}) == expected  # not in it, but may join
    refused = await mallory.call("presence", {"room": ROOM})
    assert refused["error"]["code"] == "forbidden"
    assert (await alice.call("presence", {"room": "team:t1"}))["error"]["code"] == "invalid_payload"
    assert (await alice.call("presence", {"room": "nope:1"}))["error"]["code"] == "invalid_payload"
    assert (await alice.call("presence", {"room": "sheet:a b"}))["error"]["code"] == "invalid_payload"
    assert (await alice.call("presence", "sheet:d1"))["error"]["code"] == "invalid_payload"


async def alice_and_bob_as_acl_user(
    redis_server: RedisServer, jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> tuple[EventBus, PyClient, PyClient]:
    """A bus on Redis as the ACL user ``eventbus`` (which the test has set up), with alice and bob connected."""
    url = f"redis://eventbus:s3cret-pass@127.0.0.1:{redis_server.port}/0"
    bus = EventBus(auth=jwt_auth, rooms=[DocRoom], redis_url=url, redis_channel="app-events")
    served = await serve(bus.asgi_app())
    return bus, await py_client(served, token=token("alice")), await py_client(served, token=token("bob"))


@pytest.mark.redis
async def test_on_redis_with_the_acl_the_docs_give(
    redis_server: RedisServer, jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    guide = (pathlib.Path(__file__).parents[2] / "docs" / "guides" / "presence.md").read_text()
    [rule] = [line for line in guide.splitlines() if line.startswith("ACL SETUSER") and "presence" in line]
    redis_server.client().execute_command(*rule.split())
    bus, alice, bob = await alice_and_bob_as_acl_user(redis_server, jwt_auth, serve, py_client, token)

    await alice.call("join_sheet", PAYLOAD)
    assert [m["user_id"] for m in (await bob.call("join_sheet", PAYLOAD))["members"]] == ["alice", "bob"]
    await bob.close()

    assert [e["member"]["user_id"] for e in await alice.inbox.wait_for("presence_leave")] == ["bob"]
    assert [m.user_id for m in await bus.presence(ROOM)] == ["alice"]


@pytest.mark.redis
async def test_a_leave_that_cannot_be_published_still_releases_the_connection(
    redis_server: RedisServer, jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    """Found by ``make soak`` with Redis killed: the PublishError of the leave announcement escaped the disconnect
    handler, and python-socketio and the bus kept the connection (``connection_count()``, rooms, buckets) forever."""
    admin = redis_server.client()
    admin.execute_command("ACL", "SETUSER", "eventbus", "on", ">s3cret-pass", "~*", "&*", "+@all")
    bus, alice, bob = await alice_and_bob_as_acl_user(redis_server, jwt_auth, serve, py_client, token)
    await alice.call("join_sheet", PAYLOAD)
    await bob.call("join_sheet", PAYLOAD)

    # The presence keys still answer; only the announcement fails (as in the instant Redis goes down).
    admin.execute_command("ACL", "SETUSER", "eventbus", "-publish")
    await bob.close()
    await alice.close()

    await wait_until(lambda: bus.connection_count() == 0 and not leftovers(bus), "both connections released")
    assert await bus.presence(ROOM) == []


class AsyncInfoRoom(Room, prefix="async_info", presence=True):
    room_id: str

    async def presence_info(self, user: User) -> dict[str, Any]:
        return {"role": user.claims.get("role", "guest")}


class PlainRoom(Room, prefix="plain_presence", presence=True):
    room_id: str


async def test_presence_info_may_be_async_a_dict_or_the_default() -> None:
    user = User(id="alice", claims={"role": "admin"})
    assert await member_of(AsyncInfoRoom(room_id="1"), user) == PresenceMember(user_id="alice", info={"role": "admin"})
    assert await member_of(PlainRoom(room_id="1"), user) == PresenceMember(user_id="alice", info={})
    assert await member_of(DocRoom(doc_id="1"), user) == PresenceMember(user_id="alice", info={"name": "Alice"})
    assert presence_room("plain_presence:1") == PlainRoom(room_id="1")
    assert presence_room("team:1") is None
    assert presence_room("unknown:1") is None


async def test_a_join_or_leave_that_redis_refuses_is_answered_internal_with_one_log_line(
    redis_server: RedisServer,
    jwt_auth: JWTAuth,
    serve: Serve,
    py_client: Connect,
    token: Token,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by ``make soak`` with Redis killed: a presence join whose Redis calls failed sent no ack at all (the
    client waited for its timeout) and logged "Task exception was never retrieved" with a traceback, per join."""
    admin = redis_server.client()
    admin.execute_command("ACL", "SETUSER", "eventbus", "on", ">s3cret-pass", "~*", "&*", "+@all")
    _bus, alice, bob = await alice_and_bob_as_acl_user(redis_server, jwt_auth, serve, py_client, token)
    other = {"doc_id": "d2"}
    assert (await alice.call("join_sheet", other))["ok"]
    admin.execute_command("ACL", "SETUSER", "eventbus", "-@all")  # every command refused, as when Redis is gone
    caplog.set_level("ERROR")
    ack = await alice.call("join_sheet", PAYLOAD)
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "internal", ack
    # A leave is done once the socket is out of the room here: its presence entry, which Redis would not remove,
    # expires with this node's heartbeat.
    assert (await alice.call("leave_sheet", other))["ok"]
    lines = [r for r in caplog.records if r.name.startswith("eventbus") and r.levelname == "ERROR"]
    assert [r.getMessage()[:20] for r in lines] == ["join_sheet failed: s", "presence: could not "], lines
    assert not any(r.exc_info for r in lines)
    assert "NoPermissionError" in lines[0].getMessage()
    admin.execute_command("ACL", "SETUSER", "eventbus", "+@all")
    assert (await alice.call("join_sheet", PAYLOAD))["ok"]  # the connection is still usable
    assert bob.sio.connected
