"""The generated Python SDK: type-checked with mypy --strict, and used against a live server."""

from __future__ import annotations

import asyncio
import importlib
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from eventbus import EventBus, JWTAuth
from tests.codegen import file_app
from tests.codegen.chat_app import create_bus
from tests.codegen.conftest import ROOT, run_codegen
from tests.codegen.sample_app import DocRoom, SprintBoardRoom, StatusEvent
from tests.sample import ChatRoom, MessageEvent
from tests.waiting import wait_until

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]

MYPY_CONFIG = """\
[mypy]
strict = True
plugins = pydantic.mypy
cache_dir = {cache}

[mypy-socketio.*]
ignore_missing_imports = True
"""


def test_sdk_and_its_usage_pass_mypy_strict(generated: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(generated / "client", tmp_path / "client")
    shutil.copy(pathlib.Path(__file__).parent / "sdk" / "usage.py", tmp_path / "usage.py")
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG.format(cache=tmp_path / ".mypy_cache"))

    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "client", "usage.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def chat_sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("chat_sdk")
    result = run_codegen("tests.codegen.chat_app", "--out", out, "--target", "python")
    assert result.returncode == 0, result.stderr
    return out


def _imported(out: pathlib.Path) -> Iterator[ModuleType]:
    """The generated package, imported as ``client`` the way a consumer would, and forgotten afterwards."""
    assert str(ROOT) in sys.path
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("client")
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name == "client" or name.startswith("client.")]:
            del sys.modules[name]


@pytest.fixture
def sdk(chat_sdk_dir: pathlib.Path) -> Iterator[ModuleType]:
    yield from _imported(chat_sdk_dir)


@pytest.fixture
def sample_sdk(generated: pathlib.Path) -> Iterator[ModuleType]:
    yield from _imported(generated)


async def test_sdk_joins_rooms_and_receives_event_models(
    sdk: ModuleType, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    bus = create_bus(auth=jwt_auth)
    url = await serve(bus.asgi_app())
    received: list[Any] = []
    arrived = asyncio.Event()

    async with sdk.Client(url, token=token("alice")) as alice:

        @alice.on(sdk.models.MessageEvent)
        async def record(message: Any) -> None:
            received.append(message)
            arrived.set()

        joined = await alice.join_chat(chat_id="42")
        with pytest.raises(sdk.RequestRefused) as forbidden:
            await alice.join_chat(chat_id="7")
        with pytest.raises(sdk.RequestRefused) as invalid:
            await alice.join_chat(chat_id="a:b")
        await bus.broadcast(MessageEvent(chat_id="42", text="hi"))
        await asyncio.wait_for(arrived.wait(), 5)
        left = await alice.leave_chat(chat_id="42")

    assert isinstance(joined, sdk.models.JoinOk)
    assert (joined.room, left.room) == ("chat:42", "chat:42")
    assert forbidden.value.code == "forbidden"
    assert invalid.value.code == "invalid_payload"
    assert [error.loc for error in invalid.value.error.errors] == [["chat_id"]]
    assert received == [sdk.models.MessageEvent(chat_id="42", text="hi")]
    assert sdk.chat_room(chat_id="42") == ChatRoom(chat_id="42").name


async def test_sdk_sends_client_events_and_returns_their_typed_acks(
    sdk: ModuleType, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    bus = create_bus(auth=jwt_auth)
    url = await serve(bus.asgi_app())
    async with sdk.Client(url, token=token("alice")) as alice, sdk.Client(url, token=token("bob")) as bob:
        arrived: asyncio.Queue[Any] = asyncio.Queue()
        bob.on(sdk.models.MessageEvent, arrived.put_nowait)
        for client in (alice, bob):
            await client.join_chat(chat_id="42")

        accepted = await alice.send_message(chat_id="42", text="hello")
        nothing = await alice.typing(chat_id="42")
        with pytest.raises(sdk.RequestRefused) as closed:
            await alice.close_chat(chat_id="42")
        with pytest.raises(sdk.RequestRefused) as internal:
            await alice.explode()
        with pytest.raises(ValidationError):  # the SDK checks the schema's constraints before sending
            await alice.send_message(chat_id="42", text="")
        message = await asyncio.wait_for(arrived.get(), 5)

    assert isinstance(accepted, sdk.models.MessageAccepted)
    assert (accepted.id, accepted.chat_id) == (1, "42")
    assert nothing is None
    assert (closed.value.code, closed.value.error.message) == ("chat_closed", "chat 42 no longer accepts messages")
    assert internal.value.code == "internal"
    assert message == sdk.models.MessageEvent(chat_id="42", text="hello")


def test_on_refuses_a_model_the_server_never_sends(sdk: ModuleType) -> None:
    client = sdk.Client("http://127.0.0.1:1")
    with pytest.raises(TypeError, match="not an event the server sends"):
        client.on(sdk.models.ChatRoom, print)


async def test_presence_is_typed_per_room_class(
    sample_sdk: ModuleType, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    url = await serve(EventBus(rooms=[DocRoom], auth=jwt_auth).asgi_app())
    client = sample_sdk
    async with client.Client(url, token=token("alice", name="Alice")) as alice:
        joins: asyncio.Queue[Any] = asyncio.Queue()
        alice.on(client.DocPresenceJoin, joins.put_nowait)
        alice.on(client.ProjectPresenceJoin, joins.put_nowait)  # another room class: never called here
        alone = await alice.join_doc(doc_id="d1")
        async with client.Client(url, token=token("bob", name="Bob")) as bob:
            await bob.join_doc(doc_id="d1")
            joined = await asyncio.wait_for(joins.get(), 5)
            listed = await bob.presence_doc(room=client.doc_room(doc_id="d1"))

    assert isinstance(alone, client.DocPresenceJoinOk)
    assert [(m.user_id, m.info.name, m.info.color) for m in alone.members] == [("alice", "Alice", None)]
    assert isinstance(joined, client.DocPresenceJoin)
    assert (joined.room, joined.member.info.name) == ("doc:d1", "Bob")
    assert joins.empty()
    assert isinstance(listed, client.DocPresenceList)
    assert [member.info.name for member in listed.members] == ["Alice", "Bob"]


async def test_sdk_recovers_its_connection_and_rejoins_history_rooms_with_since(
    sample_sdk: ModuleType, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    bus = EventBus(rooms=[SprintBoardRoom], auth=jwt_auth, recovery_window=60)
    url = await serve(bus.asgi_app())
    board = SprintBoardRoom(org="acme", number=3)
    statuses: asyncio.Queue[Any] = asyncio.Queue()
    alice = sample_sdk.Client(url, token=token("alice"))
    await alice.connect(transports=["websocket"])
    try:
        alice.on(sample_sdk.models.StatusEvent, statuses.put_nowait)
        first = await alice.join_sprint_board(org="acme", number=3)
        assert isinstance(first, sample_sdk.models.HistoryJoinOk)
        assert (first.recovered, first.position.offset) == (False, 0)
        await bus.emit_to_room(board, StatusEvent(healthy=True))
        assert (await asyncio.wait_for(statuses.get(), 5)).healthy is True  # the extra arguments do not disturb
        await alice.sio.eio.ws.close()  # the network drops; python-socketio reconnects by itself
        await wait_until(lambda: not bus.connections(), "the server saw the drop")
        await bus.emit_to_room(board, StatusEvent(healthy=False, message="missed"))
        missed = await asyncio.wait_for(statuses.get(), 15)
        assert (missed.healthy, missed.message, alice.recovered) == (False, "missed", True)
        again = await alice.join_sprint_board(org="acme", number=3, since=first.position)
        assert again.recovered is True
        assert [(p.event, p.offset) for p in again.publications] == [("status", 1), ("status", 2)]
    finally:
        await alice.disconnect()


async def test_sdk_sends_and_receives_bytes_as_binary_attachments(
    sample_sdk: ModuleType, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    url = await serve(file_app.create_bus(auth=jwt_auth).asgi_app())
    png = bytes(range(256))  # not UTF-8: JSON text could not carry it
    async with sample_sdk.Client(url, token=token("alice")) as alice:
        arrived: asyncio.Queue[Any] = asyncio.Queue()
        alice.on(sample_sdk.models.FileSharedEvent, arrived.put_nowait)

        receipt = await alice.share_file(
            project_id="1", attachment=sample_sdk.models.Attachment(name="a.png", data=png), parts=[b"\xff", b"\x00"]
        )
        shared = await asyncio.wait_for(arrived.get(), 5)

    assert receipt == sample_sdk.models.FileReceipt(size=258, head=b"\x00\x01")
    assert shared == sample_sdk.models.FileSharedEvent(
        project_id="1", attachment=sample_sdk.models.Attachment(name="a.png", data=png), thumbnail=b"\xff\x00"
    )
