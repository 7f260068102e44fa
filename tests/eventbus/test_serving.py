"""What `eventbus.serving` recommends: permessage-deflate off, uvloop asked for by name, a higher GC threshold."""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator

import pytest
import socketio
import uvicorn

from eventbus import EventBus
from eventbus.serving import uvicorn_options
from tests.servers import serving


def test_defaults_turn_deflate_off_and_name_the_loop() -> None:
    options = uvicorn_options()

    assert options["ws_per_message_deflate"] is False
    assert options["loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")


def test_overrides_win_and_uvicorn_accepts_every_option() -> None:
    options = uvicorn_options(ws_per_message_deflate=True, port=9000)

    config = uvicorn.Config(app=lambda *args: None, **options)

    assert config.ws_per_message_deflate is True
    assert config.port == 9000


@pytest.fixture
def interpreter_threshold() -> Iterator[int]:
    """The collector's first threshold as the test found it, put back afterwards whatever the test did."""
    thresholds = gc.get_threshold()
    yield thresholds[0]
    gc.set_threshold(*thresholds)


async def test_a_served_bus_raises_the_collector_threshold_until_it_stops(interpreter_threshold: int) -> None:
    bus = EventBus(allow_anonymous=True, gc_threshold=interpreter_threshold + 40_000)

    async with serving(bus.asgi_app()) as url:
        client = socketio.AsyncClient()
        await client.connect(url, transports=["websocket"])
        served = gc.get_threshold()[0]
        await client.disconnect()

    assert served == interpreter_threshold + 40_000
    assert gc.get_threshold()[0] == interpreter_threshold


async def test_zero_leaves_the_threshold_alone_and_a_higher_one_is_never_lowered(interpreter_threshold: int) -> None:
    async with EventBus(allow_anonymous=True, gc_threshold=0):
        assert gc.get_threshold()[0] == interpreter_threshold
    gc.set_threshold(interpreter_threshold + 90_000)
    async with EventBus(allow_anonymous=True, gc_threshold=interpreter_threshold + 1):
        assert gc.get_threshold()[0] == interpreter_threshold + 90_000
    assert gc.get_threshold()[0] == interpreter_threshold + 90_000


async def test_two_buses_in_one_process_restore_the_threshold_whichever_stops_first(
    interpreter_threshold: int,
) -> None:
    first = EventBus(allow_anonymous=True, gc_threshold=interpreter_threshold + 10_000)
    second = EventBus(allow_anonymous=True, gc_threshold=interpreter_threshold + 20_000)
    await first.start()
    await second.start()
    assert gc.get_threshold()[0] == interpreter_threshold + 20_000
    await first.stop()
    assert gc.get_threshold()[0] >= interpreter_threshold + 10_000  # the second still runs: never back to 700 yet
    await second.stop()
    assert gc.get_threshold()[0] == interpreter_threshold
    await second.stop()  # stopping twice releases nothing more
    assert gc.get_threshold()[0] == interpreter_threshold


async def test_a_threshold_set_by_the_application_meanwhile_is_kept(interpreter_threshold: int) -> None:
    async with EventBus(allow_anonymous=True, gc_threshold=interpreter_threshold + 10_000):
        gc.set_threshold(123_456)
    assert gc.get_threshold()[0] == 123_456
