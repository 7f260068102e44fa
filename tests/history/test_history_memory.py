"""Per-room history on one process, over the wire: positions on live events, joins with ``since``, the last-N query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from tests.clients import PyClient
from tests.history.rooms import FeedPingEvent, FeedRoom, PostEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[FeedRoom])
    return bus, await serve(bus.asgi_app())


def numbers(publications: list[dict[str, Any]]) -> list[int]:
    return [p["data"]["n"] for p in publications]


async def test_live_events_carry_their_position_and_a_rejoin_gets_exactly_the_missed_ones(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    ack = await alice.call("join_feed", {"feed_id": "f"})
    assert ack["ok"]
    assert ack["recovered"] is False
    assert ack["position"]["offset"] == 0
    assert ack["publications"] == []
    epoch = ack["position"]["epoch"]
    await bus.broadcast(PostEvent(feed_id="f", n=1))
    [(payload, positions)] = await alice.inbox.wait_for("post")
    assert payload == {"feed_id": "f", "n": 1}
    assert positions == {"feed:f": {"offset": 1, "epoch": epoch}}
    assert (await alice.call("leave_feed", {"feed_id": "f"}))["ok"]
    for n in range(2, 5):
        await bus.broadcast(PostEvent(feed_id="f", n=n))
    ack = await alice.call("join_feed", {"feed_id": "f", "since": positions["feed:f"]})
    assert ack["recovered"] is True
    assert numbers(ack["publications"]) == [2, 3, 4]
    assert [p["offset"] for p in ack["publications"]] == [2, 3, 4]
    assert ack["position"] == {"offset": 4, "epoch": epoch}


async def test_a_position_older_than_the_history_or_of_another_epoch_recovers_nothing(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    epoch = (await alice.call("join_feed", {"feed_id": "f"}))["position"]["epoch"]
    for n in range(1, 9):  # the room keeps 5
        await bus.broadcast(PostEvent(feed_id="f", n=n))
    too_old = await alice.call("join_feed", {"feed_id": "f", "since": {"offset": 2, "epoch": epoch}})
    assert too_old["recovered"] is False
    assert too_old["publications"] == []
    assert too_old["position"] == {"offset": 8, "epoch": epoch}
    just_in = await alice.call("join_feed", {"feed_id": "f", "since": {"offset": 3, "epoch": epoch}})
    assert just_in["recovered"] is True
    assert numbers(just_in["publications"]) == [4, 5, 6, 7, 8]
    other = await alice.call("join_feed", {"feed_id": "f", "since": {"offset": 7, "epoch": "elsewhere"}})
    assert other["recovered"] is False
    assert other["publications"] == []
    assert bus.delivery_counts() == {"history.no_position": 1, "history.false": 2, "history.true": 1}
    bad = await alice.call("join_feed", {"feed_id": "f", "since": {"offset": "x"}})
    assert bad["ok"] is False
    assert bad["error"]["code"] == "invalid_payload"


async def test_last_n_query_and_forbidden_users(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    for n in range(1, 4):
        await bus.broadcast(PostEvent(feed_id="f", n=n))
    bob = await py_client(url, token=token("bob"))
    reply = await bob.call("history", {"room": "feed:f", "limit": 2})
    assert reply["ok"]
    assert numbers(reply["data"]["publications"]) == [2, 3]
    assert reply["data"]["position"]["offset"] == 3
    assert numbers((await bus.history(FeedRoom(feed_id="f"))).model_dump()["publications"]) == [1, 2, 3]
    mallory = await py_client(url, token=token("mallory"))
    assert (await mallory.call("history", {"room": "feed:f"}))["error"]["code"] == "forbidden"
    epoch = reply["data"]["position"]["epoch"]
    refused = await mallory.call("join_feed", {"feed_id": "f", "since": {"offset": 0, "epoch": epoch}})
    assert refused == {"ok": False, "error": {"code": "forbidden", "message": "you may not join feed:f"}}
    await mallory.fence(bus)
    assert mallory.received("post") == []
    assert (await mallory.call("history", {"room": "chat:1"}))["error"]["code"] == "invalid_payload"


async def test_volatile_events_are_neither_kept_nor_positioned(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    bus, url = served
    alice = await py_client(url, token=token("alice"))
    await alice.call("join_feed", {"feed_id": "f"})
    await bus.broadcast(FeedPingEvent(feed_id="f"))
    assert await alice.inbox.wait_for("feed_ping") == [{"feed_id": "f"}]  # no positions argument
    assert (await bus.history(FeedRoom(feed_id="f"))).position.offset == 0
