"""Every refusal over the wire: its exact ack or connect error, the socket stays up, others keep receiving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventbus import EventBus, JWTAuth
from tests.clients import PyClient, connect_error
from tests.sample import BoardRoom, ChatRoom, LobbyRoom, MessageEvent
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


@pytest.fixture
async def served(jwt_auth: JWTAuth, serve: Serve) -> tuple[EventBus, str]:
    bus = EventBus(auth=jwt_auth, rooms=[ChatRoom, LobbyRoom, BoardRoom])
    return bus, await serve(bus.asgi_app())


def invalid(message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": "invalid_payload", "message": message}
    if errors is not None:
        error["errors"] = errors
    return {"ok": False, "error": error}


BAD_JOINS = [
    pytest.param(
        ["not", "an", "object"], invalid("join_chat expects one object with chat_id (got an array)"), id="list"
    ),
    pytest.param("chat:42", invalid("join_chat expects one object with chat_id (got a string)"), id="string"),
    pytest.param(42, invalid("join_chat expects one object with chat_id (got a number)"), id="number"),
    pytest.param(None, invalid("join_chat expects one object with chat_id (got null)"), id="null"),
    pytest.param(
        {},
        invalid(
            "join_chat payload is not a valid ChatRoom",
            [{"loc": ["chat_id"], "msg": "Field required", "type": "missing"}],
        ),
        id="missing-key",
    ),
    pytest.param(
        {"chat_id": "42", "admin": True},
        invalid(
            "join_chat payload is not a valid ChatRoom",
            [{"loc": ["admin"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}],
        ),
        id="extra-key",
    ),
    pytest.param(
        {"chat_id": 42},
        invalid(
            "join_chat payload is not a valid ChatRoom",
            [{"loc": ["chat_id"], "msg": "Input should be a valid string", "type": "string_type"}],
        ),
        id="wrong-type",
    ),
    pytest.param(
        {"chat_id": "42:admin"},
        invalid(
            "join_chat payload is not a valid ChatRoom",
            [
                {
                    "loc": ["chat_id"],
                    "msg": "Value error, ChatRoom key 'chat_id' must not contain ':' (got '42:admin')",
                    "type": "value_error",
                }
            ],
        ),
        id="separator-injection",
    ),
]


@pytest.mark.parametrize(("payload", "ack"), BAD_JOINS)
async def test_bad_join_payload_gets_exact_ack_and_socket_survives(
    served: tuple[EventBus, str], py_client: Connect, token: Token, payload: Any, ack: dict[str, Any]
) -> None:
    bus, url = served
    mallory = await py_client(url, token=token("alice"))
    bystander = await py_client(url, token=token("bob"))
    await bystander.call("join_chat", {"chat_id": "42"})

    assert await mallory.sio.call("join_chat", payload, timeout=5) == ack

    assert mallory.sio.connected
    assert await mallory.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
    await bus.broadcast(MessageEvent(chat_id="42", text="still served"))
    for client in (mallory, bystander):
        assert await client.inbox.wait_for("message") == [{"chat_id": "42", "text": "still served"}]


async def test_join_with_two_arguments_is_invalid(
    served: tuple[EventBus, str], py_client: Connect, token: Token
) -> None:
    _, url = served
    alice = await py_client(url, token=token("alice"))
    assert await alice.sio.call("join_chat", ({"chat_id": "42"}, "extra"), timeout=5) == invalid(
        "join_chat expects one object with chat_id (got 2 arguments)"
    )


async def test_forbidden_room(served: tuple[EventBus, str], py_client: Connect, token: Token) -> None:
    bus, url = served
    carol = await py_client(url, token=token("carol"))

    ack = await carol.call("join_chat", {"chat_id": "42"})

    assert ack == {"ok": False, "error": {"code": "forbidden", "message": "you may not join chat:42"}}
    await bus.broadcast(MessageEvent(chat_id="42", text="private"))
    await carol.fence(bus)
    assert carol.received("message") == []
    assert carol.sio.connected


async def test_anonymous_join_is_unauthorized(serve: Serve, py_client: Connect) -> None:
    bus = EventBus(allow_anonymous=True, rooms=[LobbyRoom, ChatRoom])
    url = await serve(bus.asgi_app())
    guest = await py_client(url)

    assert await guest.call("join_lobby", {}) == {
        "ok": False,
        "error": {"code": "unauthorized", "message": "you may not join lobby"},
    }
    await bus.emit_to_all("status", {"up": True})
    assert await guest.inbox.wait_for("status") == [{"up": True}]


async def test_can_join_that_raises_is_internal_and_logged(
    serve: Serve, py_client: Connect, token: Token, jwt_auth: JWTAuth, caplog: pytest.LogCaptureFixture
) -> None:
    from events import Room, User

    class FlakyRoom(Room, prefix="flaky"):
        def can_join(self, user: User | None) -> bool:
            raise RuntimeError("membership service down")

    bus = EventBus(auth=jwt_auth, rooms=[FlakyRoom])
    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))

    ack = await alice.call("join_flaky", {})

    assert ack == {"ok": False, "error": {"code": "internal", "message": "the server could not decide on this join"}}
    assert "FlakyRoom.can_join raised" in caplog.text
    assert "membership service down" in caplog.text
    assert alice.sio.connected


async def test_missing_token_is_refused(served: tuple[EventBus, str]) -> None:
    _, url = served
    assert await connect_error(url) == {"message": "unauthorized"}
    assert await connect_error(url, transports=["polling"]) == {"message": "unauthorized"}


async def test_bad_token_is_refused_even_when_anonymous_is_allowed(
    serve: Serve, jwt_auth: JWTAuth, py_client: Connect
) -> None:
    bus = EventBus(auth=jwt_auth, allow_anonymous=True)
    url = await serve(bus.asgi_app())
    assert (await py_client(url)).sio.connected  # no credential: anonymous
    assert await connect_error(url, auth={"token": "not-a-jwt"}) == {"message": "unauthorized"}


async def test_connections_per_user_are_limited_and_a_closed_one_frees_its_place(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, max_connections_per_user=2)
    admin = bus.app("/admin", auth=jwt_auth)
    url = await serve(bus.asgi_app())
    first = await py_client(url, token=token("alice"))
    await py_client(url, token=token("alice"), transports=["polling"])
    assert await connect_error(url, auth={"token": token("alice")}) == {"message": "too_many_connections"}
    assert await connect_error(url, auth={"token": token("alice")}, transports=["polling"]) == {
        "message": "too_many_connections"
    }
    await py_client(url, token=token("bob"))  # per user
    await py_client(url, token=token("alice"), namespace="/admin")  # per application
    assert (bus.connection_count(), admin.connection_count()) == (4, 1)
    await first.close()
    await wait_until(lambda: bus.connection_count("/") == 2, "alice's first connection to close")
    await py_client(url, token=token("alice"))
