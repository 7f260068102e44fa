"""Serving Socket.IO beside another ASGI application, with one list of CORS origins for both."""

from __future__ import annotations

from typing import Any

import socketio


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
