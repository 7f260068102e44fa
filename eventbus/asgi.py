"""Serving Socket.IO beside another ASGI application, with one list of CORS origins for both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import socketio

from eventbus.observability.logfields import library_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

logger = library_logger(__name__)


def with_cors(app: Any, origins: str | list[str]) -> Any:
    """Wrap ``app`` in Starlette's ``CORSMiddleware`` allowing ``origins`` (lazy import: Starlette is optional)."""
    try:
        from starlette.middleware.cors import CORSMiddleware
    except ImportError as exc:  # pragma: no cover - exercised only without Starlette installed
        raise ImportError(
            "sharing CORS origins with the mounted app needs Starlette: pip install starlette "
            "(FastAPI already includes it)"
        ) from exc
    allowed = ["*"] if origins == "*" else list(origins) if isinstance(origins, list) else [origins]
    return CORSMiddleware(
        app, allow_origins=allowed, allow_methods=["*"], allow_headers=["*"], allow_credentials=allowed != ["*"]
    )


def combined_app(
    sio: socketio.AsyncServer, other_asgi_app: Any, *, origins: str | list[str] | None, socketio_path: str
) -> Any:
    """``socketio.ASGIApp`` for ``sio`` with ``other_asgi_app`` behind it, sharing CORS origins."""
    if other_asgi_app is not None and origins:
        other_asgi_app = with_cors(other_asgi_app, origins)
    return socketio.ASGIApp(sio, other_asgi_app=other_asgi_app, socketio_path=socketio_path)


class Lifespan:
    """Run ``startup`` before ``app`` sees ASGI ``lifespan.startup``, and ``shutdown`` once it has shut down.

    A failing ``startup`` answers ``lifespan.startup.failed`` with the error, so
    the server (uvicorn, hypercorn) prints it and exits instead of serving
    without Redis. The wrapped app keeps its own lifespan (FastAPI, Starlette);
    one that does not speak the lifespan protocol is answered for.
    """

    def __init__(
        self, app: Any, startup: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        self.app = app
        self.startup = startup
        self.shutdown = shutdown

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        first = await receive()
        try:
            await self.startup()
        except Exception as exc:
            logger.error("startup failed: %s", exc)
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        pending, answered = [first], False

        async def replay() -> Any:
            return pending.pop() if pending else await receive()

        async def forward(message: Any) -> None:
            nonlocal answered
            answered = True
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed", "lifespan.startup.failed"):
                await self.shutdown()
            await send(message)

        try:
            await self.app(scope, replay, forward)
        except Exception:
            if answered:
                raise
            logger.debug("%r does not handle lifespan; answering for it", self.app)
            await self._answer_alone(receive, send)

    async def _answer_alone(self, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await self.shutdown()
        await send({"type": "lifespan.shutdown.complete"})
