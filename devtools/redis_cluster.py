"""A real Redis Cluster: three masters with one replica each, on free 127.0.0.1 ports, in a directory.

Shared by the tests (``tests/redis_cluster.py``), the benchmark and ``make demo-cluster``, which must not
import the tests.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import redis
from redis.cluster import RedisCluster

if TYPE_CHECKING:
    import pathlib

INSTALL_HINT = "redis-server is not installed: apt-get install redis-server (make test installs it)"


class RedisNode:
    """One ``redis-server --cluster-enabled yes`` without persistence; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, directory: pathlib.Path, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 10) -> None:
        self.starts += 1
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--logfile", str(self.log)]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.directory / "nodes.conf")]
        args += ["--cluster-node-timeout", "2000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        # The log line, not a PING: a node that has not loaded its cluster config yet answers PING too.
        while "Ready to accept connections" not in self._log_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self._log_text()[-2000:]}")
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


class RedisClusterServers:
    """Six nodes joined by ``redis-cli --cluster create --cluster-replicas 1``."""

    def __init__(self, directory: pathlib.Path, *, nodes: int = 6) -> None:
        if shutil.which("redis-cli") is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.nodes = [RedisNode(directory / f"node-{n}", cluster_port()) for n in range(nodes)]

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node, as a deployment would write it."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes) + "/"

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port, socket_timeout=5)

    def start(self, timeout: float = 30) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Redis Cluster on {addresses} did not become ready within {timeout}s")
            time.sleep(0.1)

    def _ready(self) -> bool:
        for node in self.nodes:
            info = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2).cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too: both must be at most 65535."""
    while True:
        port = random.randint(20000, 55000)
        if all(_free(p) for p in (port, port + 10000)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
