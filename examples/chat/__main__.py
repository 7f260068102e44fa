"""``python -m examples.chat``: serve the demo on http://127.0.0.1:8000 and print tokens to try it with."""

from __future__ import annotations

import argparse
import os
import secrets

import uvicorn

from eventbus import EventBusSettings, JWTAuth
from examples.chat.events import USERS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.chat", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    # Set here, in the main program, so every token printed below is valid for the app uvicorn builds.
    secret = os.environ.setdefault("EVENTBUS_JWT_SECRET", "dev-" + secrets.token_hex(16))
    redis = EventBusSettings().redis_url is not None
    print(f"eventbus chat demo on http://{args.host}:{args.port}  (bus: {'Redis' if redis else 'in memory'})")
    print(f"  development secret: {secret}")
    auth = JWTAuth(secret=secret)
    for user in USERS:
        print(f"  token for {user}: {auth.issue(user, ttl=3600)}")
    uvicorn.run(
        "examples.chat.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=2,
        access_log=False,  # long-polling would print a line per poll
    )


if __name__ == "__main__":
    main()
