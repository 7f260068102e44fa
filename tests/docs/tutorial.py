"""The tutorial's app as a newcomer runs it: commands in ``examples/tutorial/``, a fresh secret, a real server."""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

from tests.servers import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "examples" / "tutorial"
BIN = pathlib.Path(sys.executable).parent


def environment(secret: str) -> dict[str, str]:
    """The tutorial's shell: ``EVENTBUS_JWT_SECRET`` exported, the virtualenv's commands on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVENTBUS_")}
    env["EVENTBUS_JWT_SECRET"] = secret
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


def new_secret() -> str:
    """What the tutorial tells you to export: ``secrets.token_urlsafe(32)``."""
    return secrets.token_urlsafe(32)


def command(*args: str, secret: str, cwd: pathlib.Path = TUTORIAL) -> subprocess.CompletedProcess[str]:
    """Run one of the tutorial's commands as written, in ``examples/tutorial/``."""
    return subprocess.run(
        list(args), cwd=cwd, env=environment(secret), capture_output=True, text=True, timeout=120, check=False
    )


@contextlib.contextmanager
def uvicorn_server(secret: str, log: pathlib.Path) -> Iterator[str]:
    """``uvicorn app.main:app`` (the tutorial's command) on a free port; yields its URL, stops it after."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            ["uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=TUTORIAL,
            env=environment(secret),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn app.main:app exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn app.main:app did not answer within 30 s:\n{log.read_text()}")
