"""The demo application: FastAPI for the page and its REST API, the typed Socket.IO bus mounted beside it.

Serve it with ``python -m examples.chat`` (or ``uvicorn --factory examples.chat.app:create_app``).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import FileResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from eventbus import AuthenticationError, EventBus, EventBusSettings, JWTAuth, User, bearer_token
from examples.chat import handlers
from examples.chat.events import CHATS, USERS, ChatRoom, MonitoringRoom, is_member

logger = logging.getLogger(__name__)

WEB = Path(__file__).parent / "web"
BUNDLE = WEB / "dist" / "app.js"
TOKEN_TTL = 300
"""Seconds a login token lives: short, so the page shows its token renewal (``session_expired``) in use."""


class Login(BaseModel):
    user: str


class Session(BaseModel):
    token: str
    user: str
    name: str
    expires_in: int


class ChatInfo(BaseModel):
    id: str
    title: str
    private: bool


class Post(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class Posted(BaseModel):
    id: str


@dataclass(frozen=True)
class ChatDemo:
    """The pieces of one demo server: tests reach for the bus and the authenticator, uvicorn serves ``app``."""

    bus: EventBus
    auth: JWTAuth
    api: FastAPI
    app: Any


def build(
    *, secret: str | None = None, token_ttl: int = TOKEN_TTL, redis_url: str | None = None, test_hooks: bool = False
) -> ChatDemo:
    """A demo server; the secret comes from ``EVENTBUS_JWT_SECRET`` when not given (random when unset).

    ``test_hooks`` adds ``POST /api/test/emit``, which sends anything under any event name, bypassing the types:
    the tests use it to show what the page does with a malformed event. Never in a real deployment.
    """
    secret = secret or os.environ.get("EVENTBUS_JWT_SECRET")
    if not secret:
        secret = "dev-" + secrets.token_hex(16)
        logger.warning("EVENTBUS_JWT_SECRET is unset: this process signs tokens with a random development secret")
    auth = JWTAuth(secret=secret)
    # A page that loses its connection for less than two minutes gets what it missed (connection state recovery),
    # unless EVENTBUS_RECOVERY_WINDOW says otherwise (on one Redis or a Redis Cluster alike).
    settings = EventBusSettings()
    window = settings.recovery_window if "recovery_window" in settings.model_fields_set else 120
    bus = EventBus(auth=auth, rooms=[ChatRoom, MonitoringRoom], redis_url=redis_url, recovery_window=window)
    handlers.register(bus)
    api = rest_api(bus, auth, token_ttl)
    if test_hooks:
        add_test_hooks(api, bus)
    return ChatDemo(bus=bus, auth=auth, api=api, app=bus.asgi_app(other_asgi_app=api))


def create_app() -> Any:
    """The ASGI application, configured from the environment: ``uvicorn --factory examples.chat.app:create_app``."""
    hooks = os.environ.get("CHAT_TEST_HOOKS") == "1"
    return build(token_ttl=int(os.environ.get("CHAT_TOKEN_TTL", TOKEN_TTL)), test_hooks=hooks).app


def rest_api(bus: EventBus, auth: JWTAuth, token_ttl: int) -> FastAPI:
    """The page, its bundle and the REST endpoints."""
    api = FastAPI(title="eventbus chat demo")

    @api.post("/api/login")
    async def login(body: Login) -> Session:
        """Development only: anyone may log in as any demo user and gets a short-lived token."""
        if body.user not in USERS:
            raise HTTPException(404, f"unknown demo user {body.user!r}; try one of {sorted(USERS)}")
        token = auth.issue(body.user, ttl=token_ttl)
        return Session(token=token, user=body.user, name=USERS[body.user], expires_in=token_ttl)

    @api.get("/api/users")
    async def users() -> dict[str, str]:
        return USERS

    @api.get("/api/chats")
    async def chats() -> list[ChatInfo]:
        return [ChatInfo(id=chat.id, title=chat.title, private=chat.private) for chat in CHATS.values()]

    @api.post("/api/chats/{chat_id}/messages", status_code=202)
    async def post_message(chat_id: str, body: Post, authorization: Annotated[str | None, Header()] = None) -> Posted:
        """Post as the token's user; the typed event goes to the chat and to the monitoring room."""
        user = bearer_user(auth, authorization)
        if chat_id not in CHATS:
            raise HTTPException(404, f"unknown chat {chat_id!r}; try one of {sorted(CHATS)}")
        if not is_member(user.id, chat_id):
            raise HTTPException(403, f"{user.id} is not a member of {chat_id!r}")
        event = handlers.new_message(chat_id, user.id, body.text, via="http")
        await bus.broadcast(event)
        return Posted(id=event.id)

    serve_page(api)
    return api


class RawEmit(BaseModel):
    event: str
    room: str
    payload: Any


def add_test_hooks(api: FastAPI, bus: EventBus) -> None:
    """``POST /api/test/emit``: python-socketio's own emit (``bus.sio``), so nothing checks the payload."""

    @api.post("/api/test/emit", status_code=202)
    async def raw_emit(body: RawEmit) -> None:
        await bus.sio.emit(body.event, body.payload, room=body.room)


def bearer_user(auth: JWTAuth, authorization: str | None) -> User:
    """The user of an ``Authorization: Bearer`` header, or the HTTP 401 saying what is wrong with it."""
    token = bearer_token(None, {"HTTP_AUTHORIZATION": authorization})
    if token is None:
        raise HTTPException(401, "send Authorization: Bearer <token> (POST /api/login gives one)")
    try:
        return auth.verify(token)
    except AuthenticationError as exc:
        raise HTTPException(401, str(exc)) from exc


def serve_page(api: FastAPI) -> None:
    """``/`` is the page; its stylesheet and esbuild's bundle beside it."""

    @api.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @api.get("/style.css", include_in_schema=False)
    async def style() -> FileResponse:
        return FileResponse(WEB / "style.css")

    @api.get("/app.js", include_in_schema=False)
    async def bundle() -> Response:
        if not BUNDLE.exists():
            return PlainTextResponse(
                "the page is not built: run `make demo` (or npm ci && npm run build in examples/chat/web)", 503
            )
        return FileResponse(BUNDLE, media_type="text/javascript")
