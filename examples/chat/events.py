"""The demo's rooms and events: declared once, typed on the wire and in the generated TypeScript.

This module is the contract codegen reads (``python -m codegen examples.chat.events``); it imports no
server code, so generating the frontend's types never starts a bus.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from events import ClientEvent, Event, Room, RoomKey, Target, User

USERS = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}
"""Demo users: id to display name. Anyone may log in as any of them (development only)."""

OPERATORS = frozenset({"carol"})
"""Users allowed in the monitoring room, which sees every message of every chat."""


class Chat(BaseModel):
    """A chat as the page lists it; ``members`` decides who may join."""

    id: str
    title: str
    members: frozenset[str]

    @property
    def private(self) -> bool:
        """Whether some demo user is left out."""
        return self.members != frozenset(USERS)


CHATS = {
    chat.id: chat
    for chat in (
        Chat(id="general", title="General", members=frozenset(USERS)),
        Chat(id="design", title="Design review", members=frozenset({"alice", "bob"})),
        Chat(id="ops", title="Ops", members=frozenset({"carol"})),
    )
}


def is_member(user_id: str, chat_id: str) -> bool:
    """Whether ``user_id`` belongs to the chat ``chat_id`` (unknown chats have no members)."""
    chat = CHATS.get(chat_id)
    return chat is not None and user_id in chat.members


class ChatMember(BaseModel):
    """What the others in a chat see of someone in it."""

    name: str


class ChatRoom(Room, prefix="chat", presence=True, history=100, history_ttl=3600):
    """Members of one chat; only members may join, the page shows who is in it, and it keeps 100 messages an hour."""

    chat_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None and is_member(user.id, self.chat_id)

    def presence_info(self, user: User) -> ChatMember:
        return ChatMember(name=USERS.get(user.id, user.id))


class MonitoringRoom(Room, prefix="business_monitoring"):
    """Every message posted anywhere, for the operators."""

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.id in OPERATORS


class MessageEvent(Event):
    """A message posted in a chat, from the page (``send_message``) or over HTTP."""

    id: str
    chat_id: str
    author: str
    text: str = Field(min_length=1, max_length=2000)
    sent_at: datetime
    via: Literal["socket", "http"]

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id), MonitoringRoom()]


class UserTypingEvent(Event, volatile=True):
    """Someone started or stopped typing in a chat; sent to the others, never back to the typist."""

    chat_id: str
    user: str
    typing: bool
    ttl_ms: int

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id)]


class MessageAck(BaseModel):
    """What the sender learns once its message went out."""

    id: str
    sent_at: datetime


class TypingAck(BaseModel):
    """How long the others show the indicator; send ``typing`` again before then to keep it up."""

    ttl_ms: int


class SendMessage(ClientEvent, ack=MessageAck):
    """Post a message to a chat the sender is a member of."""

    chat_id: RoomKey
    text: str = Field(min_length=1, max_length=2000)


class Typing(ClientEvent, ack=TypingAck):
    """Tell the chat's other members that the sender is (or stopped) typing."""

    chat_id: RoomKey
    typing: bool = True
