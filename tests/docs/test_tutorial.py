"""The tutorial of docs/getting-started.md, run as written: its server, its token command, its client events."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from eventbus.testing import SocketTestClient, connect_error
from tests.docs.tutorial import TUTORIAL, command, environment, new_secret, uvicorn_server


@pytest.fixture(scope="module")
def secret() -> str:
    return new_secret()


@pytest.fixture(scope="module")
def url(secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``uvicorn app.main:app`` for the module; its log must hold no traceback and no PyJWT key warning."""
    log = tmp_path_factory.mktemp("tutorial") / "uvicorn.log"
    with uvicorn_server(secret, log) as served:
        yield served
    assert "Traceback" not in log.read_text(), log.read_text()
    assert "InsecureKeyLengthWarning" not in log.read_text(), log.read_text()


def token_for(user: str, secret: str) -> str:
    result = command("eventbus", "token", "--user", user, "--ttl", "3600", secret=secret)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no PyJWT warning about a short key
    return result.stdout.strip()


async def connect(url: str, user: str, secret: str) -> SocketTestClient:
    return await SocketTestClient(url, token=token_for(user, secret)).connect()


async def test_members_chat_with_a_typed_ack_and_see_each_others_messages(url: str, secret: str) -> None:
    alice, bob = await connect(url, "alice", secret), await connect(url, "bob", secret)
    try:
        assert await alice.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}
        assert await bob.call("join_chat", {"chat_id": "42"}) == {"ok": True, "room": "chat:42"}

        ack = await alice.call("send_message", {"chat_id": "42", "text": "hi"})

        assert ack == {"ok": True, "data": {"id": 1}}
        assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "author": "alice", "text": "hi"}]
        assert alice.received("message") == []  # ctx.broadcast skips the sender
    finally:
        await alice.close()
        await bob.close()


async def test_the_http_endpoint_reaches_the_members(url: str, secret: str) -> None:
    bob = await connect(url, "bob", secret)
    try:
        await bob.call("join_chat", {"chat_id": "42"})
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{url}/chats/42/messages", json={"author": "ops", "text": "deployed"})
        assert response.status_code == 204
        assert await bob.inbox.wait_for("message") == [{"chat_id": "42", "author": "ops", "text": "deployed"}]
    finally:
        await bob.close()


async def test_what_the_tutorial_says_clients_are_refused(url: str, secret: str) -> None:
    carol = await connect(url, "carol", secret)
    try:
        refused = await carol.call("join_chat", {"chat_id": "42"})
        assert refused == {"ok": False, "error": {"code": "forbidden", "message": "you may not join chat:42"}}
        not_member = await carol.call("send_message", {"chat_id": "42", "text": "hi"})
        assert not_member["error"]["code"] == "forbidden"
        for payload in ({"chat_id": 42}, {}, "42"):
            assert (await carol.call("join_chat", payload))["error"]["code"] == "invalid_payload"
    finally:
        await carol.close()
    error = await connect_error(url, auth={"token": "not-a-jwt"})
    assert error == {"message": "unauthorized"}


def test_talk_py_as_the_tutorial_runs_it(url: str, secret: str) -> None:
    args = [sys.executable, "talk.py", "bob", "--url", url]
    with subprocess.Popen(args, cwd=TUTORIAL, env=environment(secret), stdout=subprocess.PIPE, text=True) as listener:
        assert listener.stdout is not None
        try:
            assert listener.stdout.readline() == "join_chat: {'ok': True, 'room': 'chat:42'}\n"

            sent = command(sys.executable, "talk.py", "alice", "hello", "--url", url, secret=secret)

            assert sent.returncode == 0, sent.stderr
            joined, acked = sent.stdout.splitlines()
            assert joined == "join_chat: {'ok': True, 'room': 'chat:42'}"
            assert re.fullmatch(r"send_message: \{'ok': True, 'data': \{'id': \d+\}\}", acked)
            assert listener.stdout.readline() == "alice: hello\n"
        finally:
            listener.terminate()


def test_the_tutorial_is_the_whole_app() -> None:
    files = sorted(str(path.relative_to(TUTORIAL)) for path in TUTORIAL.rglob("*") if path.is_file())
    files = [name for name in files if "__pycache__" not in name and "generated" not in name]
    assert files == [
        "app/__init__.py",
        "app/chats.py",
        "app/main.py",
        "app/socketio_events/__init__.py",
        "app/socketio_events/chat.py",
        "talk.py",
        "web/package.json",
        "web/src/main.ts",
        "web/tsconfig.json",
    ]
