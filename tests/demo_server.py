"""The chat demo as its own process, started the way ``make demo`` starts it.

The demo declares its own ``chat`` room and ``message`` event; the wire-name registries are per process and
refuse a second class under a name (``tests.sample`` has both), so the demo is never imported by the tests.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time

import httpx

from eventbus import JWTAuth
from tests.servers import free_port

ROOT = pathlib.Path(__file__).parents[1]
BUNDLE = ROOT / "examples" / "chat" / "web" / "dist" / "app.js"


class DemoServer:
    """``python -m examples.chat`` on a free port with a known secret; ``restart()`` keeps the port."""

    def __init__(
        self,
        *,
        secret: str = "demo-test-secret-0123456789abcdef0123",
        token_ttl: int | None = None,
        test_hooks: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secret
        self.token_ttl = token_ttl
        self.test_hooks = test_hooks  # POST /api/test/emit: send anything, bypassing the types
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this method; close() closes it

    def token(self, user: str, ttl: float = 600) -> str:
        """A token the running process accepts."""
        return JWTAuth(secret=self.secret).issue(user, ttl=ttl)

    def start(self, timeout: float = 20) -> DemoServer:
        env = {**os.environ, "EVENTBUS_JWT_SECRET": self.secret, "PYTHONUNBUFFERED": "1"}
        env.pop("EVENTBUS_REDIS_URL", None)
        if self.token_ttl is not None:
            env["CHAT_TOKEN_TTL"] = str(self.token_ttl)
        if self.test_hooks:
            env["CHAT_TEST_HOOKS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "examples.chat", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/api/users", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the demo server did not answer within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, *, secret: str | None = None) -> None:
        """Stop, then start again on the same port, optionally signing with another secret."""
        self.stop()
        if secret is not None:
            self.secret = secret
        self.start()

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def close(self) -> None:
        self.stop()
        self._log.close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
