"""Client-event handlers of the test chat, installed on a bus the way an application module would."""

from __future__ import annotations

import itertools

from eventbus import Context, EventBus, EventError
from tests.sample import (
    ChatRoom,
    CloseChat,
    EnterChat,
    Explode,
    FileReceived,
    MessageAccepted,
    MessageEvent,
    SendFile,
    SendMessage,
    Typing,
    TypingEvent,
)


def install(bus: EventBus) -> None:
    ids = itertools.count(1)

    @bus.on(SendMessage)
    async def send_message(ctx: Context, msg: SendMessage) -> MessageAccepted:
        await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, text=msg.text))
        return MessageAccepted(id=next(ids), chat_id=msg.chat_id)

    @bus.on(SendFile)
    async def send_file(ctx: Context, msg: SendFile) -> FileReceived:
        content = msg.content + b"".join(part.data for part in msg.parts)
        return FileReceived(size=len(content), head=content[:8].hex())

    @bus.on(Typing)
    async def typing(ctx: Context, msg: Typing) -> None:
        assert ctx.user is not None
        await ctx.broadcast(TypingEvent(chat_id=msg.chat_id, user_id=ctx.user.id))

    @bus.on(EnterChat)
    async def enter_chat(ctx: Context, msg: EnterChat) -> None:
        await ctx.join(ChatRoom(chat_id=msg.chat_id))

    @bus.on(CloseChat)
    async def close_chat(ctx: Context, msg: CloseChat) -> None:
        raise EventError("chat_closed", f"chat {msg.chat_id} no longer accepts messages")

    @bus.on(Explode)
    async def explode(ctx: Context, msg: Explode) -> None:
        raise RuntimeError("database on fire")
