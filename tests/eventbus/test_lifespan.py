"""The ASGI lifespan wrapper `EventBus.asgi_app` puts around the app: start before it, stop after, fail loudly."""

from __future__ import annotations

from typing import Any

import pytest

from eventbus.asgi import Lifespan


class Recorder:
    def __init__(self, *incoming: str) -> None:
        self.incoming = [{"type": f"lifespan.{kind}"} for kind in incoming]
        self.sent: list[dict[str, Any]] = []
        self.steps: list[str] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.steps.append(f"sent {message['type']}")
        self.sent.append(message)

    async def start(self) -> None:
        self.steps.append("bus start")

    async def stop(self) -> None:
        self.steps.append("bus stop")


async def test_starts_before_and_stops_after_an_app_with_its_own_lifespan() -> None:
    rec = Recorder("startup", "shutdown")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            kind = (await receive())["type"].removeprefix("lifespan.")
            rec.steps.append(f"app {kind}")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return

    await Lifespan(app, rec.start, rec.stop)({"type": "lifespan"}, rec.receive, rec.send)

    assert rec.steps == [
        "bus start",
        "app startup",
        "sent lifespan.startup.complete",
        "app shutdown",
        "bus stop",
        "sent lifespan.shutdown.complete",
    ]


async def test_failed_start_reports_startup_failed_with_the_reason() -> None:
    rec = Recorder("startup")
    called: list[Any] = []

    async def broken() -> None:
        raise ConnectionError("cannot reach Redis at redis://:***@db:6379/0")

    async def app(*args: Any) -> None:
        called.append(args)

    await Lifespan(app, broken, rec.stop)({"type": "lifespan"}, rec.receive, rec.send)

    assert rec.sent == [{"type": "lifespan.startup.failed", "message": "cannot reach Redis at redis://:***@db:6379/0"}]
    assert called == []


async def test_answers_for_an_app_without_lifespan_support() -> None:
    rec = Recorder("startup", "shutdown")

    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "lifespan not supported"

    await Lifespan(http_only, rec.start, rec.stop)({"type": "lifespan"}, rec.receive, rec.send)

    assert rec.steps == ["bus start", "sent lifespan.startup.complete", "bus stop", "sent lifespan.shutdown.complete"]


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def never() -> None:
        pytest.fail("lifespan hooks must not run for http")

    await Lifespan(app, never, never)({"type": "http"}, None, None)
    assert seen == ["http"]
