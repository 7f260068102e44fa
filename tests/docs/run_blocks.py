"""Run the Python blocks of one docs page, as ``tests/docs/test_code_blocks.py`` asks: ``python run_blocks.py FILE``.

FILE holds a JSON list of the page's blocks. They run in order in one namespace,
with top-level ``await`` allowed, in one event loop; then every ``async def test_*``
the page defined is awaited. The working directory (the tutorial's) comes first
on ``sys.path``, so the blocks import the tutorial's ``app`` as a reader would.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import pathlib
import sys
from typing import Any


async def run(blocks: list[str]) -> list[str]:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for number, source in enumerate(blocks, start=1):
        code = compile(source, f"<python block {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
    tests = [
        name for name, value in namespace.items() if name.startswith("test_") and inspect.iscoroutinefunction(value)
    ]
    for name in tests:
        await namespace[name]()
    return tests


def main() -> None:
    sys.path.insert(0, os.getcwd())
    blocks = json.loads(pathlib.Path(sys.argv[1]).read_text())
    tests = asyncio.run(run(blocks))
    print(json.dumps({"blocks": len(blocks), "tests": tests}))


if __name__ == "__main__":
    main()
