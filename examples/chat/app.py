"""The demo application: ``uvicorn examples.chat.app:app``."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from eventbus import EventBus, JWTAuth
from examples.chat.events import CHATS, USERS, ChatRoom, MessageEvent, MonitoringRoom

# A development secret: printed at start so tutorials can mint tokens; set EVENTBUS_JWT_SECRET in real use.
SECRET = os.environ.setdefault("EVENTBUS_JWT_SECRET", "dev-" + secrets.token_hex(16))

auth = JWTAuth(secret=SECRET)
bus = EventBus(auth=auth, rooms=[ChatRoom, MonitoringRoom])
api = FastAPI(title="eventbus chat demo")


class Login(BaseModel):
    user: str


class Post(BaseModel):
    author: str
    text: str


@api.post("/api/login")
async def login(body: Login) -> dict[str, str]:
    """Development-only login: any demo user gets a short-lived token."""
    if body.user not in USERS:
        raise HTTPException(404, f"unknown demo user {body.user!r}; try one of {sorted(USERS)}")
    return {"token": auth.issue(body.user, ttl=900), "user": body.user}


@api.get("/api/chats")
async def chats() -> dict[str, str]:
    return {chat_id: chat["title"] for chat_id, chat in CHATS.items()}


@api.post("/api/chats/{chat_id}/messages", status_code=202)
async def post_message(chat_id: str, body: Post) -> dict[str, bool]:
    """Posting over HTTP broadcasts the typed event to the chat and to the monitoring room."""
    if chat_id not in CHATS:
        raise HTTPException(404, f"unknown chat {chat_id!r}")
    await bus.broadcast(MessageEvent(chat_id=chat_id, author=body.author, text=body.text, sent_at=datetime.now(UTC)))
    return {"ok": True}


app = bus.asgi_app(other_asgi_app=api)
