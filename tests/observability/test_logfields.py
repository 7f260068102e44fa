"""Every library log line has the same five ``extra`` fields, so a JSON formatter picks them up."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventbus import Context, EventBus, JWTAuth
from eventbus.observability.logfields import FIELDS
from eventbus.testing import SocketTestClient, connect_error
from tests.sample import ChatRoom, Explode
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]


async def test_every_line_carries_sid_user_app_event_and_code(
    jwt_auth: JWTAuth, token: Token, serve: Serve, stack: AsyncExitStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventbus")
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom], log_level="DEBUG")

    @bus.on(Explode)
    async def explode(ctx: Context, msg: Explode) -> None:
        raise RuntimeError("a handler bug")

    url = await serve(bus.asgi_app())
    await connect_error(url, auth={"token": "forged"})
    carol = await SocketTestClient(url, token=token("carol")).connect()
    await carol.call("join_chat", {"chat_id": "42"})  # refused: carol is not a member
    await carol.call("explode", {})
    await carol.call("no_such_event", {})
    sid = carol.sid
    await carol.close()
    await wait_until(lambda: bus.connection_count() == 0, "carol to be gone")

    ours = [record for record in caplog.records if record.name.startswith("eventbus")]
    assert ours
    for record in ours:
        assert all(hasattr(record, name) for name in FIELDS), (record.name, record.getMessage())

    def fields(fragment: str) -> tuple[Any, ...]:
        [record] = [r for r in ours if fragment in r.getMessage()]
        return tuple(getattr(record, name) for name in FIELDS)

    assert fields("connection refused")[2:] == ("/", None, "unauthorized")
    assert fields("join refused") == (sid, "carol", "/", "join_chat", "forbidden")
    assert fields("handler for 'explode' failed") == (sid, "carol", "/", "explode", "internal")
    assert fields("unknown event") == (sid, "carol", "/", "no_such_event", "unknown_event")
    assert fields("disconnected app=/")[:3] == (sid, "carol", "/")
