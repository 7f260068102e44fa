"""An emitter process of the multi-process tests: ``python -m tests.e2e.emitter_worker async|sync``.

Configured by ``EVENTBUS_*``. Reads one JSON request per line on stdin,
``{"id": 1, "ops": [...]}``, and answers ``{"id": 1, "results": [...]}`` on
stdout; prints ``{"ready": true}`` first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from eventbus import Emitter, SyncEmitter
from tests.e2e import ops


def answer(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve_async() -> None:
    async with Emitter() as emitter:
        answer({"ready": True})
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            answer({"id": request["id"], "results": await ops.run(emitter, request["ops"])})


def serve_sync() -> None:
    with SyncEmitter() as emitter:
        answer({"ready": True})
        for line in sys.stdin:
            request = json.loads(line)
            answer({"id": request["id"], "results": ops.run_sync(emitter, request["ops"])})


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    if sys.argv[1:] == ["async"]:
        asyncio.run(serve_async())
    elif sys.argv[1:] == ["sync"]:
        serve_sync()
    else:
        sys.exit("usage: python -m tests.e2e.emitter_worker async|sync")
