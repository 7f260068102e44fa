"""The ASGI app: FastAPI for HTTP, the bus for Socket.IO, one process (run: uvicorn app.main:app)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from eventbus import Context, EventBus, EventError, broadcast

from .chats import chats
from .socketio_events.chat import MessageAck, MessageEvent, SendMessage

# --8<-- [start:serve]
api = FastAPI()
bus = EventBus()  # verifies JWTs signed with EVENTBUS_JWT_SECRET
bus.autodiscover("app.socketio_events")  # imports the package; its rooms become joinable
app = bus.asgi_app(other_asgi_app=api)  # uvicorn app.main:app
# --8<-- [end:serve]


# --8<-- [start:handler]
@bus.on(SendMessage)
async def send_message(ctx: Context, msg: SendMessage) -> MessageAck:
    if ctx.user is None or not await chats.is_member(ctx.user.id, msg.chat_id):
        raise EventError("forbidden", "you are not a member of this chat")  # the ack: {"ok": false, ...}
    message_id = await chats.save(msg.chat_id, ctx.user.id, msg.text)
    await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, author=ctx.user.id, text=msg.text))  # to the others
    return MessageAck(id=message_id)  # the ack: {"ok": true, "data": {"id": 1}}


# --8<-- [end:handler]
# --8<-- [start:http]
class NewMessage(BaseModel):
    author: str
    text: str


@api.post("/chats/{chat_id}/messages", status_code=204)
async def post_message(chat_id: str, body: NewMessage) -> None:  # add your own HTTP auth here
    await broadcast(MessageEvent(chat_id=chat_id, author=body.author, text=body.text))  # once to each member


# --8<-- [end:http]
