"""The chat's room, the event the server sends and the client event the page sends."""

from __future__ import annotations

from pydantic import BaseModel

from eventbus import ClientEvent, Event, Room, RoomKey, Target, User

from ..chats import chats


# --8<-- [start:room]
class ChatRoom(Room, prefix="chat"):  # room name "chat:{chat_id}"
    chat_id: str

    async def can_join(self, user: User | None) -> bool:  # deny by default
        return user is not None and await chats.is_member(user.id, self.chat_id)


# --8<-- [end:room]
# --8<-- [start:event]
class MessageEvent(Event):  # wire name "message"
    chat_id: str
    author: str
    text: str

    def broadcast_to(self) -> list[Target]:  # may also be async def
        return [ChatRoom(chat_id=self.chat_id)]


# --8<-- [end:event]
# --8<-- [start:client_event]
class MessageAck(BaseModel):
    id: int


class SendMessage(ClientEvent, ack=MessageAck):  # wire name "send_message", acked with MessageAck
    chat_id: RoomKey  # a str checked like a room key on arrival
    text: str


# --8<-- [end:client_event]
