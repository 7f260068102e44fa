"""The server process of the multi-process tests: ``uvicorn tests.e2e.app:app``, configured by ``EVENTBUS_*``.

``POST /ops`` with ``{"ops": [...]}`` runs operations on this process's bus
(see `tests.e2e.ops`), so a test can broadcast, join or disconnect from here.
"""

from __future__ import annotations

import logging
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from eventbus import EventBus
from tests.e2e import ops
from tests.e2e.model import DocRoom, TeamRoom, VaultRoom

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
for noisy in ("socketio", "engineio", "uvicorn.access"):
    logging.getLogger(noisy).setLevel(logging.WARNING)

bus = EventBus(rooms=[DocRoom, TeamRoom, VaultRoom])


async def run_ops(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(await ops.run(bus, body["ops"]))


app = bus.asgi_app(other_asgi_app=Starlette(routes=[Route("/ops", run_ops, methods=["POST"])]))
