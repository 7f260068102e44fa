"""Real processes for the multi-process tests: uvicorn servers and emitter workers sharing one Redis channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import sys
from typing import Any

import httpx

from tests.servers import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0


def environment(**settings: str | None) -> dict[str, str]:
    """This process's environment without any ``EVENTBUS_*``, plus ``settings`` as ``EVENTBUS_<NAME>``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVENTBUS_")}
    env.update({f"EVENTBUS_{key.upper()}": value for key, value in settings.items() if value is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    """A child process whose stderr goes to a log file the test can read (and prints on failure)."""

    def __init__(self, name: str, env: dict[str, str], log: pathlib.Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log
        self.proc: asyncio.subprocess.Process | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def _spawn(self, *args: str, stdin: int | None = None, stdout: int | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *args, stdin=stdin, stdout=stdout, stderr=log, env=self.env, cwd=ROOT
            )

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class ServerProcess(Process):
    """``uvicorn tests.e2e.app:app`` on a free port; ``run(ops)`` posts operations to its ``/ops`` endpoint."""

    url = ""

    async def start(self) -> ServerProcess:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        await self._spawn(
            *("-m", "uvicorn", "tests.e2e.app:app", "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "1"),
        )
        await self._wait_listening(port)
        return self

    async def _wait_listening(self, port: int) -> None:
        # uvicorn binds only after the lifespan startup (Redis checked, channel subscribed) has completed.
        assert self.proc is not None
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{self.name} did not listen within {STARTUP_TIMEOUT}s:\n{self.log()}") from None
                await asyncio.sleep(0.05)
            else:
                writer.close()
                await writer.wait_closed()
                return

    async def run(self, ops: list[dict[str, Any]], http: httpx.AsyncClient | None = None) -> list[dict[str, Any]]:
        """Run ``ops`` on this process (over ``http`` when given: a loop of requests then keeps one connection)."""
        if http is None:
            async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as own:
                return await self.run(ops, own)
        response = await http.post(f"{self.url}/ops", json={"ops": ops})
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()
        return results

    async def stats(self) -> dict[str, Any]:
        """``GET /stats``: RSS, connection and engine.io socket counts, slow consumers dropped."""
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            response = await http.get(f"{self.url}/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


class EmitterProcess(Process):
    """``python -m tests.e2e.emitter_worker async|sync``: ``run(ops)`` sends them on stdin, reads results."""

    def __init__(self, name: str, env: dict[str, str], log: pathlib.Path, mode: str) -> None:
        super().__init__(name, env, log)
        self.mode = mode
        self._next_id = 0
        self._lock = asyncio.Lock()

    async def start(self) -> EmitterProcess:
        await self._spawn("-m", "tests.e2e.emitter_worker", self.mode, stdin=-1, stdout=-1)
        first = await self._read(STARTUP_TIMEOUT)
        assert first == {"ready": True}, first
        return self

    async def _read(self, timeout: float) -> Any:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{self.name} exited:\n{self.log()}")
        return json.loads(line)

    async def run(self, ops: list[dict[str, Any]], http: httpx.AsyncClient | None = None) -> list[dict[str, Any]]:
        """Send ``ops`` on stdin and read their results (``http`` is unused: the same call as `ServerProcess.run`)."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        async with self._lock:
            self._next_id += 1
            self.proc.stdin.write((json.dumps({"id": self._next_id, "ops": ops}) + "\n").encode())
            await self.proc.stdin.drain()
            reply = await self._read(REQUEST_TIMEOUT)
        assert reply["id"] == self._next_id, reply
        results: list[dict[str, Any]] = reply["results"]
        return results

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None and self.proc.returncode is None:
            self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
        await super().stop()


class Cluster:
    """Two servers (``A``, ``B``) and two emitters (``async``, ``sync``) on one Redis channel."""

    def __init__(self, directory: pathlib.Path, env: dict[str, str]) -> None:
        self.servers = [ServerProcess(name, env, directory / f"server-{name}.log") for name in ("A", "B")]
        self.emitters = [
            EmitterProcess(mode, env, directory / f"emitter-{mode}.log", mode) for mode in ("async", "sync")
        ]
        self.channel = env["EVENTBUS_REDIS_CHANNEL"]

    @property
    def sources(self) -> dict[str, ServerProcess | EmitterProcess]:
        """Every process that can send, by name: ``A``, ``B``, ``async``, ``sync``."""
        processes: list[ServerProcess | EmitterProcess] = [*self.servers, *self.emitters]
        return {process.name: process for process in processes}

    async def start(self, *, emitters: bool = True) -> Cluster:
        """Start the servers and, with ``emitters``, the emitter workers (a test of the servers alone skips them)."""
        processes: list[ServerProcess | EmitterProcess] = [*self.servers, *(self.emitters if emitters else [])]
        await asyncio.gather(*(process.start() for process in processes))
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.sources.values()))

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{process.log()}" for name, process in self.sources.items())
