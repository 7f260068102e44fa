"""One ``redis-server`` process without persistence, in a directory, on a given 127.0.0.1 port."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathlib

INSTALL_HINT = "redis-server is not installed: apt-get install redis-server (make test installs it)"


class RedisProcess:
    """``redis-server`` with ``extra_args``; ``stop()`` and ``start()`` keep the same port."""

    def __init__(self, directory: pathlib.Path, port: int, *extra_args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 10) -> None:
        self.starts += 1
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--logfile", str(self.log), *self.extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        # The log line, not a PING: it works the same with a password, an ACL, TLS or a cluster node.
        while "Ready to accept connections" not in self._log_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer on port {self.port} within {timeout}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self.proc = None

    @property
    def log(self) -> pathlib.Path:
        """This start's log file (each start has its own, so readiness is never read from a previous run)."""
        return self.directory / f"redis-{self.starts}.log"

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _log_tail(self) -> str:
        return self._log_text()[-2000:] or "(no log)"
