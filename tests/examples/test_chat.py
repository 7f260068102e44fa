"""The chat demo's backend over the wire: login, membership, typed client events and the REST post."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from eventbus.testing import capture_broadcasts
from examples.chat import app as chat_app
from examples.chat.app import ChatDemo, build
from tests.clients import PyClient

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]

SECRET = "chat-demo-test-secret-0123456789abcdef0123456789"


@pytest.fixture
async def demo(serve: Serve) -> tuple[ChatDemo, str]:
    chat = build(secret=SECRET)
    return chat, await serve(chat.app)


@pytest.fixture
async def http(demo: tuple[ChatDemo, str]) -> Any:
    async with httpx.AsyncClient(base_url=demo[1]) as client:
        yield client


async def member(py_client: Connect, demo: tuple[ChatDemo, str], user: str, *chats: str) -> PyClient:
    chat, url = demo
    client = await py_client(url, token=chat.auth.issue(user))
    for chat_id in chats:
        assert await client.call("join_chat", {"chat_id": chat_id}) == {"ok": True, "room": f"chat:{chat_id}"}
    return client


async def test_login_issues_a_short_lived_token_for_demo_users_only(
    demo: tuple[ChatDemo, str], http: httpx.AsyncClient
) -> None:
    reply = await http.post("/api/login", json={"user": "bob"})
    assert reply.status_code == 200
    session = reply.json()
    assert (session["user"], session["name"], session["expires_in"]) == ("bob", "Bob", chat_app.TOKEN_TTL)
    user = demo[0].auth.verify(session["token"])
    assert user.id == "bob"
    assert user.claims["exp"] - user.claims["iat"] == chat_app.TOKEN_TTL

    refused = await http.post("/api/login", json={"user": "mallory"})
    assert refused.status_code == 404
    assert "try one of ['alice', 'bob', 'carol']" in refused.json()["detail"]


async def test_membership_decides_who_joins(demo: tuple[ChatDemo, str], py_client: Connect) -> None:
    chat, url = demo
    carol = await py_client(url, token=chat.auth.issue("carol"))
    alice = await py_client(url, token=chat.auth.issue("alice"))
    assert await carol.call("join_chat", {"chat_id": "design"}) == {
        "ok": False,
        "error": {"code": "forbidden", "message": "you may not join chat:design"},
    }
    assert await carol.call("join_chat", {"chat_id": "nope"}) == {
        "ok": False,
        "error": {"code": "forbidden", "message": "you may not join chat:nope"},
    }
    assert (await carol.call("join_business_monitoring", {}))["ok"]
    assert (await alice.call("join_business_monitoring", {}))["error"]["code"] == "forbidden"
    assert (await alice.call("join_chat", {"chat_id": "design"}))["ok"]


async def test_send_message_reaches_the_chat_and_monitoring_once_with_a_typed_ack(
    demo: tuple[ChatDemo, str], py_client: Connect
) -> None:
    chat, _ = demo
    alice = await member(py_client, demo, "alice", "general")
    bob = await member(py_client, demo, "bob", "general")
    carol = await member(py_client, demo, "carol", "general")
    assert (await carol.call("join_business_monitoring", {}))["ok"]

    ack = await alice.call("send_message", {"chat_id": "general", "text": "hello"})
    assert ack["ok"] is True
    assert set(ack["data"]) == {"id", "sent_at"}

    for client in (alice, bob, carol):  # the sender too: the page renders what the server sent
        await client.fence(chat.bus)
        [message] = client.received("message")  # carol is in both target rooms and still gets it once
        assert message == {
            "id": ack["data"]["id"],
            "chat_id": "general",
            "author": "alice",
            "text": "hello",
            "sent_at": ack["data"]["sent_at"],
            "via": "socket",
        }


async def test_send_message_refusals(demo: tuple[ChatDemo, str], py_client: Connect) -> None:
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


async def test_typing_goes_to_the_others_not_the_typist(demo: tuple[ChatDemo, str], py_client: Connect) -> None:
    chat, _ = demo
    alice = await member(py_client, demo, "alice", "design")
    bob = await member(py_client, demo, "bob", "design")
    assert await bob.call("typing", {"chat_id": "design"}) == {"ok": True, "data": {"ttl_ms": 4000}}
    assert await alice.inbox.wait_for("user_typing") == [
        {"chat_id": "design", "user": "bob", "typing": True, "ttl_ms": 4000}
    ]
    assert (await bob.call("typing", {"chat_id": "design", "typing": False}))["ok"]
    assert (await alice.inbox.wait_for("user_typing", 2))[1]["typing"] is False
    await bob.fence(chat.bus)
    assert bob.received("user_typing") == []


async def test_rest_post_broadcasts_as_the_token_user(
    demo: tuple[ChatDemo, str], py_client: Connect, http: httpx.AsyncClient
) -> None:
    chat, _ = demo
    alice = await member(py_client, demo, "alice", "design")
    carol = await member(py_client, demo, "carol")
    assert (await carol.call("join_business_monitoring", {}))["ok"]
    headers = {"Authorization": f"Bearer {chat.auth.issue('bob')}"}
    reply = await http.post("/api/chats/design/messages", json={"text": "deployed"}, headers=headers)
    assert reply.status_code == 202
    for client in (alice, carol):
        [message] = await client.inbox.wait_for("message")
        assert (message["id"], message["author"], message["text"], message["via"]) == (
            reply.json()["id"],
            "bob",
            "deployed",
            "http",
        )


async def test_rest_post_without_a_server() -> None:
    chat = build(secret=SECRET)
    headers = {"Authorization": f"Bearer {chat.auth.issue('alice')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=chat.api), base_url="http://demo") as http:
        with capture_broadcasts() as sent:  # no socket, no server: the endpoint's broadcasts are recorded
            reply = await http.post("/api/chats/general/messages", json={"text": "hi"}, headers=headers)
    assert reply.status_code == 202
    assert [(s.name, s.rooms, s.data["author"]) for s in sent] == [
        ("message", ["chat:general", "business_monitoring"], "alice")
    ]


@pytest.mark.parametrize(
    ("path", "headers", "status", "detail"),
    [
        ("/api/chats/design/messages", {}, 401, "send Authorization: Bearer <token>"),
        ("/api/chats/design/messages", {"Authorization": "Bearer not-a-jwt"}, 401, "invalid token"),
        ("/api/chats/design/messages", "carol", 403, "carol is not a member of 'design'"),
        ("/api/chats/lobby/messages", "alice", 404, "unknown chat 'lobby'"),
    ],
)
async def test_rest_post_refusals(path: str, headers: Any, status: int, detail: str) -> None:
    chat = build(secret=SECRET)
    if isinstance(headers, str):
        headers = {"Authorization": f"Bearer {chat.auth.issue(headers)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=chat.api), base_url="http://demo") as http:
        with capture_broadcasts() as sent:
            reply = await http.post(path, json={"text": "hi"}, headers=headers)
    assert reply.status_code == status
    assert detail in reply.json()["detail"]
    assert sent == []


async def test_page_and_api_are_served(http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/app.js"></script>' in page.text
    assert (await http.get("/style.css")).headers["content-type"].startswith("text/css")
    assert (await http.get("/api/chats")).json() == [
        {"id": "general", "title": "General", "private": False},
        {"id": "design", "title": "Design review", "private": True},
        {"id": "ops", "title": "Ops", "private": True},
    ]
    monkeypatch.setattr(chat_app, "BUNDLE", chat_app.WEB / "dist" / "missing.js")
    missing = await http.get("/app.js")
    assert missing.status_code == 503
    assert "run `make demo`" in missing.text
