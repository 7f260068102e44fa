"""Events and rooms shared by the runtime tests, declared the way an application would."""

from __future__ import annotations

from pydantic import BaseModel, Field

from events import ClientEvent, Event, Room, RoomKey, Target, User

CHAT_MEMBERS = {"42": {"alice", "bob"}, "7": {"carol"}}


class ChatRoom(Room, prefix="chat"):
    chat_id: str

    async def can_join(self, user: User | None) -> bool:
        return user is not None and user.id in CHAT_MEMBERS.get(self.chat_id, set())


class LobbyRoom(Room, public=True):
    pass


class BoardRoom(Room, prefix="board"):
    org: str
    board: int

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.claims.get("org") == self.org


class MessageEvent(Event):
    chat_id: str
    text: str

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id), "business_monitoring:1"]


class AnnouncementEvent(Event):
    """Goes to every chat in ``chats`` and the lobby: a client in several of them gets it once."""

    chats: list[str]
    text: str

    async def broadcast_to(self) -> list[Target]:
        return [*(ChatRoom(chat_id=chat) for chat in self.chats), LobbyRoom()]


class NoticeEvent(Event):
    text: str


class MessageAccepted(BaseModel):
    id: int
    chat_id: str


class SendMessage(ClientEvent, ack=MessageAccepted):
    chat_id: RoomKey
    text: str = Field(min_length=1, max_length=500)


class FilePart(BaseModel):
    data: bytes


class FileReceived(BaseModel):
    size: int
    head: str


class SendFile(ClientEvent, ack=FileReceived):
    """Binary data: ``content`` at the top, ``parts`` nested; the only client event here that may carry attachments."""

    chat_id: RoomKey
    content: bytes
    parts: list[FilePart] = Field(default_factory=list)


class Typing(ClientEvent):
    chat_id: RoomKey


class TypingEvent(Event):
    chat_id: str
    user_id: str

    def broadcast_to(self) -> list[Target]:
        return [ChatRoom(chat_id=self.chat_id)]


class EnterChat(ClientEvent):
    chat_id: RoomKey


class CloseChat(ClientEvent):
    chat_id: RoomKey


class Explode(ClientEvent):
    pass
