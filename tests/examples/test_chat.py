"""The chat demo's backend over the wire: login, membership, typed client events and the REST post.

The demo runs as its own process (``tests.demo_server``), as ``make demo`` runs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from eventbus import JWTAuth
from tests.clients import PyClient
from tests.demo_server import DemoServer

Connect = Callable[..., Awaitable[PyClient]]


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture
async def http(demo: DemoServer) -> Any:
    async with httpx.AsyncClient(base_url=demo.url) as client:
        yield client


async def member(py_client: Connect, demo: DemoServer, user: str, *chats: str) -> PyClient:
    client = await py_client(demo.url, token=demo.token(user))
    for chat_id in chats:
        ack = await client.call("join_chat", {"chat_id": chat_id})
        assert (ack["ok"], ack["room"], ack["recovered"]) == (True, f"chat:{chat_id}", False)  # chats keep history
        # Chats are presence rooms too: the ack lists who is in, each with the display name presence_info gives.
        assert {"user_id": user, "info": {"name": user.title()}} in ack["members"]
    return client


async def messages(client: PyClient, count: int = 1) -> list[dict[str, Any]]:
    """The ``message`` payloads received, without the chat's stream positions that follow each (chats keep history)."""
    received = await client.inbox.wait_for("message", count)
    assert all(isinstance(args, list) and "chat:" in next(iter(args[1])) for args in received), received
    return [args[0] for args in received]


def bearer(demo: DemoServer, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.token(user)}"}


async def test_login_issues_a_short_lived_token_for_demo_users_only(http: httpx.AsyncClient, demo: DemoServer) -> None:
    reply = await http.post("/api/login", json={"user": "bob"})
    assert reply.status_code == 200
    session = reply.json()
    assert (session["user"], session["name"], session["expires_in"]) == ("bob", "Bob", 300)
    user = JWTAuth(secret=demo.secret).verify(session["token"])
    assert user.id == "bob"
    assert user.claims["exp"] - user.claims["iat"] == 300

    refused = await http.post("/api/login", json={"user": "mallory"})
    assert refused.status_code == 404
    assert "try one of ['alice', 'bob', 'carol']" in refused.json()["detail"]


async def test_membership_decides_who_joins(demo: DemoServer, py_client: Connect) -> None:
    carol = await py_client(demo.url, token=demo.token("carol"))
    alice = await py_client(demo.url, token=demo.token("alice"))
    for chat_id in ("design", "nope"):
        assert await carol.call("join_chat", {"chat_id": chat_id}) == {
            "ok": False,
            "error": {"code": "forbidden", "message": f"you may not join chat:{chat_id}"},
        }
    assert await carol.call("join_business_monitoring", {}) == {"ok": True, "room": "business_monitoring"}
    assert (await alice.call("join_business_monitoring", {}))["error"]["code"] == "forbidden"
    assert (await alice.call("join_chat", {"chat_id": "design"}))["ok"]


async def test_send_message_reaches_the_chat_and_monitoring_once_with_a_typed_ack(
    demo: DemoServer, py_client: Connect
) -> None:
    alice = await member(py_client, demo, "alice", "general")
    bob = await member(py_client, demo, "bob", "general")
    carol = await member(py_client, demo, "carol", "general")
    assert (await carol.call("join_business_monitoring", {}))["ok"]

    ack = await alice.call("send_message", {"chat_id": "general", "text": "hello"})
    assert ack["ok"] is True
    assert set(ack["data"]) == {"id", "sent_at"}
    assert (await alice.call("send_message", {"chat_id": "general", "text": "again"}))["ok"]

    for client in (alice, bob, carol):  # the sender too: the page renders what the server sent
        # Carol is in both target rooms; a duplicate of the first would arrive before the second.
        first, second = await messages(client, 2)
        assert first == {
            "id": ack["data"]["id"],
            "chat_id": "general",
            "author": "alice",
            "text": "hello",
            "sent_at": ack["data"]["sent_at"],
            "via": "socket",
        }
        assert second["text"] == "again"


async def test_send_message_refusals(demo: DemoServer, py_client: Connect) -> None:
    carol = await member(py_client, demo, "carol")
    assert await carol.call("send_message", {"chat_id": "design", "text": "let me in"}) == {
        "ok": False,
        "error": {"code": "forbidden", "message": "you are not a member of 'Design review'"},
    }
    empty = await carol.call("send_message", {"chat_id": "general", "text": ""})
    assert empty["error"]["code"] == "invalid_payload"
    assert [e["loc"] for e in empty["error"]["errors"]] == [["text"]]
    other_room = await carol.call("send_message", {"chat_id": "general:x", "text": "hi"})
    assert other_room["error"]["code"] == "invalid_payload"


async def test_typing_goes_to_the_others_not_the_typist(demo: DemoServer, py_client: Connect) -> None:
    alice = await member(py_client, demo, "alice", "design")
    bob = await member(py_client, demo, "bob", "design")
    assert await bob.call("typing", {"chat_id": "design"}) == {"ok": True, "data": {"ttl_ms": 4000}}
    assert await alice.inbox.wait_for("user_typing") == [
        {"chat_id": "design", "user": "bob", "typing": True, "ttl_ms": 4000}
    ]
    assert (await bob.call("typing", {"chat_id": "design", "typing": False}))["ok"]
    assert (await alice.inbox.wait_for("user_typing", 2))[1]["typing"] is False
    # Per-socket order: a typing event sent to bob would reach him before his own later message.
    assert (await bob.call("send_message", {"chat_id": "design", "text": "done"}))["ok"]
    await bob.inbox.wait_for("message")
    assert bob.received("user_typing") == []


async def test_rest_post_broadcasts_as_the_token_user(
    demo: DemoServer, py_client: Connect, http: httpx.AsyncClient
) -> None:
    alice = await member(py_client, demo, "alice", "design")
    carol = await member(py_client, demo, "carol")
    assert (await carol.call("join_business_monitoring", {}))["ok"]
    reply = await http.post("/api/chats/design/messages", json={"text": "deployed"}, headers=bearer(demo, "bob"))
    assert reply.status_code == 202
    for client in (alice, carol):  # the chat's members and the monitoring room
        [message] = await messages(client)
        assert (message["id"], message["author"], message["text"], message["via"]) == (
            reply.json()["id"],
            "bob",
            "deployed",
            "http",
        )


@pytest.mark.parametrize(
    ("path", "user", "status", "detail"),
    [
        ("/api/chats/design/messages", None, 401, "send Authorization: Bearer <token>"),
        ("/api/chats/design/messages", "not-a-jwt", 401, "invalid token"),
        ("/api/chats/design/messages", "carol", 403, "carol is not a member of 'design'"),
        ("/api/chats/lobby/messages", "alice", 404, "unknown chat 'lobby'"),
    ],
)
async def test_rest_post_refusals(
    demo: DemoServer,
    py_client: Connect,
    http: httpx.AsyncClient,
    path: str,
    user: str | None,
    status: int,
    detail: str,
) -> None:
    bob = await member(py_client, demo, "bob", "design")
    headers = (
        {} if user is None else {"Authorization": "Bearer not-a-jwt"} if user == "not-a-jwt" else bearer(demo, user)
    )
    reply = await http.post(path, json={"text": "refused"}, headers=headers)
    assert reply.status_code == status
    assert detail in reply.json()["detail"]
    ok = await http.post("/api/chats/design/messages", json={"text": "accepted"}, headers=bearer(demo, "alice"))
    assert ok.status_code == 202
    assert [m["text"] for m in await messages(bob)] == ["accepted"]  # nothing before it


async def test_page_and_api_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/app.js"></script>' in page.text
    assert (await http.get("/style.css")).headers["content-type"].startswith("text/css")
    assert (await http.get("/app.js")).headers["content-type"].startswith("text/javascript")
    assert (await http.get("/api/chats")).json() == [
        {"id": "general", "title": "General", "private": False},
        {"id": "design", "title": "Design review", "private": True},
        {"id": "ops", "title": "Ops", "private": True},
    ]
