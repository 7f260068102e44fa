"""``python -m examples.chat``: serve the demo on http://127.0.0.1:8000 and print tokens to try it with."""

from __future__ import annotations

import os

import uvicorn

from examples.chat.app import SECRET, USERS, auth


def main() -> None:
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    print(f"eventbus chat demo on http://{host}:{port}  (dev secret: {SECRET})")
    for user in USERS:
        print(f"  token for {user}: {auth.issue(user, ttl=3600)}")
    uvicorn.run("examples.chat.app:app", host=host, port=port, ws="websockets-sansio", ws_per_message_deflate=False)


if __name__ == "__main__":
    main()
