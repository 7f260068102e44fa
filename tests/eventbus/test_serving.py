"""The uvicorn options `eventbus.serving` recommends: permessage-deflate off, uvloop asked for by name."""

from __future__ import annotations

import importlib.util

import uvicorn

from eventbus.serving import uvicorn_options


def test_defaults_turn_deflate_off_and_name_the_loop() -> None:
    options = uvicorn_options()

    assert options["ws_per_message_deflate"] is False
    assert options["loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")


def test_overrides_win_and_uvicorn_accepts_every_option() -> None:
    options = uvicorn_options(ws_per_message_deflate=True, port=9000)

    config = uvicorn.Config(app=lambda *args: None, **options)

    assert config.ws_per_message_deflate is True
    assert config.port == 9000
