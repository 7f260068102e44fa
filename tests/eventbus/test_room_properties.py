"""Property: server-side join_room / leave_room / emit_to_room act on exactly the room given."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus
from tests.clients import PyClient
from tests.sample import NoticeEvent
from tests.servers import ThreadedServer

CLIENTS = 3
counter = itertools.count()

room_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=30,
)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[EventBus, ThreadedServer, list[PyClient]]]:
    bus = EventBus(allow_anonymous=True)
    with ThreadedServer(bus.asgi_app()) as running:

        async def connect_all() -> list[PyClient]:
            return [await PyClient(running.url).connect() for _ in range(CLIENTS)]

        clients = running.run(connect_all())
        yield bus, running, clients

        async def close_all() -> None:
            for client in clients:
                await client.close()

        running.run(close_all())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(room_names, min_size=1, max_size=3, unique=True),
    membership=st.lists(st.sets(st.integers(0, 2), max_size=3), min_size=CLIENTS, max_size=CLIENTS),
    leavers=st.sets(st.integers(0, CLIENTS - 1)),
)
def test_room_operations_hit_exactly_the_named_room(
    world: tuple[EventBus, ThreadedServer, list[PyClient]],
    names: list[str],
    membership: list[set[int]],
    leavers: set[int],
) -> None:
    bus, running, clients = world
    rooms = [f"prop:{next(counter)}:{name}" for name in names]
    joined = [{rooms[i] for i in wanted if i < len(rooms)} for wanted in membership]

    async def scenario() -> None:
        sids = [client.sio.get_sid() for client in clients]
        for sid, own in zip(sids, joined, strict=True):
            for room in own:
                await bus.join_room(sid, room)
        for room in rooms:
            await bus.emit_to_room(room, NoticeEvent(text=room))
        for index in leavers:
            for room in joined[index]:
                await bus.leave_room(sids[index], room)
        for room in rooms:
            await bus.emit_to_room(room, NoticeEvent(text=f"after:{room}"))
        for index, client in enumerate(clients):
            await client.fence(bus)
            texts = [notice["text"] for notice in client.received("notice")]
            client.inbox.events["notice"].clear()
            expected = sorted(joined[index]) + ([] if index in leavers else sorted(f"after:{r}" for r in joined[index]))
            assert sorted(texts) == sorted(expected), (index, texts, expected)
        for sid, own in zip(sids, joined, strict=True):
            for room in own:
                await bus.leave_room(sid, room)

    running.run(scenario())
