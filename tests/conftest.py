"""Fixtures shared by every test: a reset default bus, JWT helpers, live servers and real clients."""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from hypothesis import Phase, settings

import eventbus
from eventbus import JWTAuth
from tests.clients import JSClient, PyClient
from tests.redis_server import RedisServer
from tests.servers import serving

# In CI a failing property reports its first example with a reproduction blob instead of shrinking: each example
# talks to a live server, and a long shrink of a hanging example could outlast the job.
settings.register_profile(
    "ci", settings.get_profile("ci"), phases=[p for p in Phase if p != Phase.shrink], print_blob=True
)
if os.environ.get("CI"):
    settings.load_profile("ci")

SECRET = "test-secret-that-is-long-enough-for-hs512-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_default_bus() -> Iterator[None]:
    eventbus.set_default(None)
    yield
    eventbus.set_default(None)


@pytest.fixture
def jwt_auth() -> JWTAuth:
    return JWTAuth(secret=SECRET, algorithms=["HS256"])


@pytest.fixture
def token(jwt_auth: JWTAuth) -> Callable[..., str]:
    def make(user_id: str, ttl: float = 600, **claims: Any) -> str:
        return jwt_auth.issue(user_id, ttl=ttl, **claims)

    return make


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exit_stack:
        yield exit_stack


@pytest.fixture
def serve(stack: AsyncExitStack) -> Callable[[Any], Awaitable[str]]:
    """``url = await serve(app)`` runs ``app`` under uvicorn on a free port for the rest of the test."""

    async def start(app: Any) -> str:
        return await stack.enter_async_context(serving(app))

    return start


@pytest.fixture
def py_client(stack: AsyncExitStack) -> Callable[..., Awaitable[PyClient]]:
    """``client = await py_client(url, token=...)`` connects a python-socketio client, closed after the test."""

    async def connect(url: str, **kwargs: Any) -> PyClient:
        client = PyClient(url, **kwargs)
        stack.push_async_callback(client.close)
        return await client.connect()

    return connect


@pytest.fixture
def js_client(stack: AsyncExitStack) -> Callable[..., Awaitable[JSClient]]:
    """``client = await js_client(url, token=...)`` starts the Node socket.io-client harness."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: install Node.js 20 (make test installs the npm packages)")

    async def start(url: str, **kwargs: Any) -> JSClient:
        client = JSClient(url, **kwargs)
        stack.push_async_callback(client.close)
        await client.start()
        return client

    return start


@pytest.fixture
def start_redis(tmp_path: pathlib.Path) -> Iterator[Callable[..., RedisServer]]:
    """``start_redis(*args, tls=False)``: a real ``redis-server`` on a free port, stopped after the test."""
    servers: list[RedisServer] = []

    def start(*extra_args: str, tls: bool = False) -> RedisServer:
        try:
            server = RedisServer(tmp_path / f"redis-{len(servers)}", *extra_args, tls=tls)
        except FileNotFoundError as exc:
            pytest.fail(str(exc))
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def redis_server(start_redis: Callable[..., RedisServer]) -> RedisServer:
    """A real ``redis-server`` for this test (``stop()``/``start()`` it to simulate an outage)."""
    return start_redis()
