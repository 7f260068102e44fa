"""The demo's rooms and events: declared once, typed on the wire and in the generated TypeScript."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from events import Event, Room, Target, User

USERS = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}
CHATS = {
    "general": {"title": "General", "members": {"alice", "bob", "carol"}},
    "design": {"title": "Design review", "members": {"alice", "bob"}},
    "ops": {"title": "Ops (private)", "members": {"carol"}},
}


class ChatRoom(Room, prefix="chat"):
    """Members of one chat; only the chat's members may join."""

    chat_id: str

    def can_join(self, user: User | None) -> bool:
        chat = CHATS.get(self.chat_id)
        return user is not None and chat is not None and user.id in chat["members"]


class MonitoringRoom(Room, prefix="business_monitoring"):
    """Everything posted anywhere, for the operators (carol)."""

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.id == "carol"


class MessageEvent(Event):
    """A message posted in a chat."""

    chat_id: str
    author: str
    text: str = Field(max_length=2000)
    sent_at: datetime

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id), MonitoringRoom()]
