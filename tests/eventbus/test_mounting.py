"""Mounting beside FastAPI and Quart with one list of CORS origins, and autodiscovery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from quart import Quart

from eventbus import EventBus, JWTAuth
from events.registry import server_events
from tests.clients import PyClient

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]

ALLOWED = "http://app.example.test"
OTHER = "http://evil.example.test"


def fastapi_app() -> Any:
    app = FastAPI()

    @app.get("/api/hello")
    async def hello() -> dict[str, str]:
        return {"framework": "fastapi"}

    return app


def quart_app() -> Any:
    app = Quart(__name__)

    @app.get("/api/hello")
    async def hello() -> dict[str, str]:
        return {"framework": "quart"}

    return app


@pytest.mark.parametrize(("make_app", "framework"), [(fastapi_app, "fastapi"), (quart_app, "quart")])
async def test_mounted_app_and_socketio_share_cors_origins(
    serve: Serve, py_client: Connect, token: Token, jwt_auth: JWTAuth, make_app: Callable[[], Any], framework: str
) -> None:
    bus = EventBus(auth=jwt_auth, cors_allowed_origins=[ALLOWED])
    url = await serve(bus.asgi_app(other_asgi_app=make_app()))

    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/api/hello", headers={"Origin": ALLOWED})
        assert response.json() == {"framework": framework}
        assert response.headers["access-control-allow-origin"] == ALLOWED
        preflight = await http.options(
            "/api/hello", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.headers["access-control-allow-origin"] == ALLOWED
        refused = await http.get("/api/hello", headers={"Origin": OTHER})
        assert "access-control-allow-origin" not in refused.headers

        handshake = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": ALLOWED}
        )
        assert handshake.status_code == 200
        assert handshake.headers["access-control-allow-origin"] == ALLOWED
        foreign = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": OTHER})
        assert foreign.status_code == 400

    client = await py_client(url, token=token("alice"), headers={"Origin": ALLOWED})
    await bus.emit_to_user("alice", "hello", {"framework": framework})
    assert await client.inbox.wait_for("hello") == [{"framework": framework}]


async def test_cors_origins_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, serve: Serve, jwt_auth: JWTAuth
) -> None:
    monkeypatch.setenv("EVENTBUS_CORS_ORIGINS", f"{ALLOWED}, http://second.example.test")
    bus = EventBus(auth=jwt_auth)
    assert bus.cors_allowed_origins == [ALLOWED, "http://second.example.test"]
    url = await serve(bus.asgi_app(other_asgi_app=fastapi_app()))
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/api/hello", headers={"Origin": "http://second.example.test"})
    assert response.headers["access-control-allow-origin"] == "http://second.example.test"


async def test_autodiscover_registers_rooms_and_events(
    serve: Serve, py_client: Connect, token: Token, jwt_auth: JWTAuth
) -> None:
    bus = EventBus(auth=jwt_auth)
    modules = bus.autodiscover("tests.eventbus.discovered_app.socketio_events")

    assert [m.__name__.rsplit(".", 1)[-1] for m in modules] == ["socketio_events", "orders", "teams"]
    assert [room.prefix for room in bus.rooms] == ["discovered_order", "discovered_team"]
    assert server_events.get("team_renamed") is not None

    url = await serve(bus.asgi_app())
    alice = await py_client(url, token=token("alice"))
    assert await alice.call("join_discovered_team", {"team_id": "t1"}) == {"ok": True, "room": "discovered_team:t1"}
    team_renamed = server_events.get("team_renamed")
    assert team_renamed is not None
    await bus.broadcast(team_renamed(team_id="t1", title="Core"))
    assert await alice.inbox.wait_for("team_renamed") == [{"team_id": "t1", "title": "Core"}]
