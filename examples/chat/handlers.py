"""What the page sends: a message and a typing indicator, each answered by a typed ack."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Literal

from eventbus import Context, EventBus, EventError, User
from examples.chat.events import (
    CHATS,
    MessageAck,
    MessageEvent,
    SendMessage,
    Typing,
    TypingAck,
    UserTypingEvent,
    is_member,
)

TYPING_TTL_MS = 4000
"""How long the others show "… is typing" without hearing from the typist again."""


def new_message(chat_id: str, author: str, text: str, *, via: Literal["socket", "http"]) -> MessageEvent:
    """A `MessageEvent` with a fresh id and the current time; random ids stay unique across server processes."""
    sent_at = datetime.now(UTC)
    return MessageEvent(id=secrets.token_hex(8), chat_id=chat_id, author=author, text=text, sent_at=sent_at, via=via)


def member(user: User | None, chat_id: str) -> User:
    """The user, when a member of the chat; otherwise the ``forbidden`` refusal as an `EventError`."""
    if user is None or not is_member(user.id, chat_id):
        title = CHATS[chat_id].title if chat_id in CHATS else chat_id
        raise EventError("forbidden", f"you are not a member of {title!r}")
    return user


def register(bus: EventBus) -> None:
    """Attach the demo's client-event handlers to ``bus``."""

    @bus.on(SendMessage)
    async def send_message(ctx: Context, msg: SendMessage) -> MessageAck:
        author = member(ctx.user, msg.chat_id)
        event = new_message(msg.chat_id, author.id, msg.text, via="socket")
        # Everyone in the chat, the sender's other tabs and this one included: the page renders what the server sent.
        await ctx.broadcast(event, exclude_self=False)
        return MessageAck(id=event.id, sent_at=event.sent_at)

    @bus.on(Typing)
    async def typing(ctx: Context, msg: Typing) -> TypingAck:
        typist = member(ctx.user, msg.chat_id)
        await ctx.broadcast(
            UserTypingEvent(chat_id=msg.chat_id, user=typist.id, typing=msg.typing, ttl_ms=TYPING_TTL_MS)
        )
        return TypingAck(ttl_ms=TYPING_TTL_MS)
