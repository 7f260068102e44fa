"""The processes of a benchmark run: servers, Redis and the Node load generator, with their CPU and memory."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Sequence

BENCH_DIR = pathlib.Path(__file__).parent
ROOT = BENCH_DIR.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` used so far (Linux ``/proc``)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Process:
    """A child process whose CPU seconds and resident memory are read from ``/proc`` (Linux)."""

    def __init__(self, name: str, argv: list[str], **popen: Any) -> None:
        self.name = name
        self.popen = subprocess.Popen(argv, cwd=ROOT, **popen)

    def cpu(self) -> float:
        """User + system CPU seconds used so far."""
        return cpu_seconds(self.popen.pid)

    def rss(self) -> int:
        """Resident set size in bytes."""
        for line in pathlib.Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Server(Process):
    """A Socket.IO server under test, on its own port, with the ``/bench/*`` control endpoint."""

    def __init__(
        self,
        system: str,
        *,
        redis_url: str | None = None,
        loop: str | None = None,
        deflate: bool = False,
        ws: str | None = None,
        channel: str | None = None,
        asgi_server: str | None = None,
        env: dict[str, str] | None = None,
        python: Sequence[str] = (sys.executable,),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if system == "node":
            argv = ["node", str(BENCH_DIR / "node" / "server.mjs"), str(self.port)]
        else:
            # ``python``: another interpreter's command (`bench.interpreters`); it must exec the interpreter, not fork
            # it, so that the pid whose CPU and memory are read is the server's.
            argv = [*python, "-m", "bench.server", system, "--port", str(self.port)]
            argv += ["--redis", redis_url] if redis_url else []
            argv += ["--loop", loop] if loop else []
            argv += ["--deflate"] if deflate else []
            argv += ["--ws", ws] if ws else []
            argv += ["--channel", channel] if channel else []
            argv += ["--asgi-server", asgi_server] if asgi_server else []
        super().__init__(system, argv, env={**os.environ, **env} if env else None)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server {self.name} exited with {self.popen.returncode}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/bench/ping", timeout=1).read()
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not answer on {self.url} within {timeout} s")

    def emit(self, count: int, rooms: list[str], text: str, rate: float | None = None) -> dict[str, Any]:
        body = json.dumps({"count": count, "rooms": rooms, "text": text, "rate": rate}).encode()
        request = urllib.request.Request(f"{self.url}/bench/emit", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, Any]:
        """``GET /bench/stats``: the typed server's Redis counters and subscribed partitions."""
        with urllib.request.urlopen(f"{self.url}/bench/stats", timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result


class LoadGenerator(Process):
    """The Node load generator (``node/loadgen.mjs``), driven one JSON line per command."""

    def __init__(self) -> None:
        super().__init__(
            "loadgen",
            ["node", str(BENCH_DIR / "node" / "loadgen.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.popen.stdin is not None
        assert self.popen.stdout is not None
        self.popen.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.popen.stdin.flush()
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited during {cmd!r}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("error"):
            raise RuntimeError(f"load generator {cmd!r} failed: {reply['error']}")
        return reply

    def stop(self) -> None:
        if self.popen.poll() is None and self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.write('{"cmd":"close"}\n')
                self.popen.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        super().stop()


class Redis(Process):
    """A throwaway ``redis-server`` on a free loopback port, no persistence."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server (make redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        super().__init__("redis", argv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")
