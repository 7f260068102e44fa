"""The runtime tests' chat rooms and events plus a client event with a typed ack, for the SDK's live test."""

from __future__ import annotations

from pydantic import BaseModel

from events import ClientEvent
from tests.sample import ChatRoom, MessageEvent

__all__ = ["ChatRoom", "MessageEvent", "SendMessage", "SendMessageResult"]


class SendMessageResult(BaseModel):
    message_id: int
    chat_id: str


class SendMessage(ClientEvent, ack=SendMessageResult):
    """Post a message to a chat the sender has joined."""

    chat_id: str
    text: str
