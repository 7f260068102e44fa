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
from redis.cluster import ClusterNode, RedisCluster

from devtools.redis_server import INSTALL_HINT, RedisProcess

if TYPE_CHECKING:
    import pathlib


class RedisClusterServers:
    """Six nodes joined by ``redis-cli --cluster create --cluster-replicas 1``."""

    def __init__(self, directory: pathlib.Path, *, nodes: int = 6) -> None:
        if shutil.which("redis-cli") is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.nodes = [
            RedisProcess(
                directory / f"node-{n}",
                cluster_port(),
                *("--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"node-{n}" / "nodes.conf")),
                *("--cluster-node-timeout", "2000"),
            )
            for n in range(nodes)
        ]

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node, as a deployment would write it."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes) + "/"

    def client(self) -> RedisCluster:
        """A cluster client that starts from every node: after a test killed one, any other still answers."""
        startup = [ClusterNode("127.0.0.1", node.port) for node in self.nodes]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=startup, socket_timeout=5)

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
    """A free port whose cluster bus port (+10000) is free too, both below the ephemeral range.

    Between this check and redis-server's bind, any outgoing connection on the machine may take an ephemeral port
    (Linux: 32768-60999): a port from that range was taken under load, and the node failed with "Address already
    in use". Ports 10000-22767 and their bus ports 20000-32767 are only ever taken on purpose.
    """
    while True:
        port = random.randint(10000, 22767)
        if all(_free(p) for p in (port, port + 10000)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
