"""Talk in chat 42 from a terminal, with the server running (uvicorn app.main:app --port 8000).

    python talk.py bob              # joins chat 42 and prints every message until Ctrl-C
    python talk.py alice "hello"    # joins, sends "hello", prints the ack and exits

The token is signed with EVENTBUS_JWT_SECRET, as the server expects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

import socketio

from eventbus import JWTAuth


def show(message: dict[str, Any]) -> None:
    print(f"{message['author']}: {message['text']}", flush=True)


async def talk(url: str, user: str, text: str | None) -> None:
    token = JWTAuth(secret=os.environ["EVENTBUS_JWT_SECRET"]).issue(user, ttl=3600)
    sio = socketio.AsyncClient()
    sio.on("message", show)
    await sio.connect(url, auth={"token": token}, transports=["websocket"])
    print("join_chat:", await sio.call("join_chat", {"chat_id": "42"}), flush=True)
    if text is None:
        await sio.wait()  # until Ctrl-C
    else:
        print("send_message:", await sio.call("send_message", {"chat_id": "42", "text": text}), flush=True)
        await sio.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Join chat 42; send TEXT, or print what arrives until Ctrl-C.")
    parser.add_argument("user")
    parser.add_argument("text", nargs="?")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(talk(args.url, args.user, args.text))
