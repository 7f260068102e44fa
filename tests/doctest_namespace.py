"""What the docstring examples of ``eventbus`` take as already written: an application's rooms, events and bus.

`tests.test_docstrings` gives every example of an ``eventbus`` module these names, with a fresh ``bus`` for each
docstring, so an example reads like a page of an application (``bus.broadcast(MessageEvent(...))``) without
declaring its events first. The ``events`` examples declare their own, as a schema author does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from eventbus import ClientEvent, Context, Event, EventBus, JWTAuth, Room, RoomKey, Target, User
from eventbus.testing import SocketTestClient, capture_broadcasts, serve

SECRET = "doctest-secret-long-enough-for-hs256-0123456789abcdef"
ADMIN_SECRET = "doctest-admin-secret-long-enough-for-hs256-0123456789"


class ChatRoom(Room, prefix="chat"):
    chat_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None


class DocRoom(Room, prefix="doc", presence=True, public=True):
    doc_id: str


class OpsRoom(Room, prefix="ops", app="/admin", public=True):
    pass


class MessageEvent(Event):
    chat_id: str
    text: str

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id)]


class NoticeEvent(Event):
    text: str


class AdminAlertEvent(Event, app="/admin"):
    text: str

    def broadcast_to(self) -> list[Target]:
        return [OpsRoom()]


class MessageAck(BaseModel):
    id: int


class SendMessage(ClientEvent, ack=MessageAck):
    chat_id: RoomKey
    text: str


def token(user_id: str) -> str:
    """A token for ``user_id`` that the namespace's ``bus`` accepts."""
    return JWTAuth(secret=SECRET).issue(user_id, ttl=600)


def namespace() -> dict[str, Any]:
    """The names an example sees, with a new ``bus`` (rooms ``chat`` and ``doc``; JWTs signed with ``SECRET``)."""
    auth = JWTAuth(secret=SECRET)
    return {
        "ADMIN_SECRET": ADMIN_SECRET,
        "AdminAlertEvent": AdminAlertEvent,
        "ChatRoom": ChatRoom,
        "DocRoom": DocRoom,
        "EventBus": EventBus,
        "JWTAuth": JWTAuth,
        "Context": Context,
        "MessageAck": MessageAck,
        "MessageEvent": MessageEvent,
        "NoticeEvent": NoticeEvent,
        "OpsRoom": OpsRoom,
        "SECRET": SECRET,
        "SendMessage": SendMessage,
        "SocketTestClient": SocketTestClient,
        "asyncio": asyncio,
        "auth": auth,
        "bus": EventBus(auth=auth, rooms=[ChatRoom, DocRoom]),
        "capture_broadcasts": capture_broadcasts,
        "serve": serve,
        "token": token,
    }
