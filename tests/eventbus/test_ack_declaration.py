"""The ack type is part of the client event's declaration: handlers must agree with it, and codegen reads only it."""

from __future__ import annotations

import json
import logging
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from eventbus import ClientEvent, ConfigurationError, Context, EventBus, JWTAuth
from tests.clients import PyClient

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


class Receipt(BaseModel):
    id: int


class Other(BaseModel):
    name: str


class PlaceOrder(ClientEvent, name="ack_place_order", ack=Receipt):
    item: str


class Ping(ClientEvent, name="ack_ping"):
    pass


def test_a_handler_returning_another_type_than_declared_fails_at_registration(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth)

    async def place(ctx: Context, order: PlaceOrder) -> Other:
        return Other(name=order.item)

    with pytest.raises(ConfigurationError, match=r"place returns Other but PlaceOrder declares ack=Receipt"):
        bus.on(PlaceOrder)(place)


def test_a_handler_returning_data_for_an_event_declaring_none_fails_naming_the_fix(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth)

    async def ping(ctx: Context, msg: Ping) -> Receipt:
        return Receipt(id=1)

    with pytest.raises(ConfigurationError, match=r"declares ack=None.*class Ping\(ClientEvent, ack=Receipt\)"):
        bus.on(Ping)(ping)


def test_registering_a_handler_does_not_change_the_declaration(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth)

    @bus.on(Ping)
    async def ping(ctx: Context, msg: Ping) -> None:
        return None

    @bus.on(PlaceOrder)
    async def place(ctx: Context, order: PlaceOrder):  # type: ignore[no-untyped-def]  # unannotated: takes ack=
        return Receipt(id=7)

    assert (Ping.ack_type, PlaceOrder.ack_type) == (None, Receipt)


async def test_an_unannotated_handler_acks_with_the_declared_type_over_the_wire(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(auth=jwt_auth)

    @bus.on(PlaceOrder)
    async def place(ctx: Context, order: PlaceOrder):  # type: ignore[no-untyped-def]
        return Receipt(id=7)

    @bus.on(Ping)
    async def ping(ctx: Context, msg: Ping):  # type: ignore[no-untyped-def]
        return "pong"  # no ack declared: not sent, and said once in the log

    alice = await py_client(await serve(bus.asgi_app()), token=token("alice"))
    assert await alice.call("ack_place_order", {"item": "tea"}) == {"ok": True, "data": {"id": 7}}
    with caplog.at_level(logging.ERROR, logger="eventbus"):
        assert [await alice.call("ack_ping", {}) for _ in range(3)] == [{"ok": True}] * 3
    dropped = [r for r in caplog.records if "declares no ack type" in r.getMessage()]
    assert len(dropped) == 1


def test_codegen_types_the_ack_from_the_class_without_importing_any_handler(tmp_path: pathlib.Path) -> None:
    (tmp_path / "shop_events.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from events import ClientEvent

            class Receipt(BaseModel):
                id: int

            class BuyThing(ClientEvent, ack=Receipt):
                item: str

            class Wave(ClientEvent):
                pass
            """
        )
    )
    out = tmp_path / "generated"
    subprocess.run(
        [sys.executable, "-m", "codegen", "shop_events", "--out", str(out), "--target", "schema"],
        cwd=tmp_path,
        check=True,
        env={"PYTHONPATH": f"{tmp_path}:{pathlib.Path.cwd()}", "PATH": ""},
    )
    acks = json.loads((out / "events.schema.json").read_text())["acks"]
    success = acks["buy_thing"]["anyOf"][0]
    assert success["properties"]["data"] == {"$ref": "#/$defs/Receipt"}
    assert "data" not in acks["wave"]["anyOf"][0]["properties"]
