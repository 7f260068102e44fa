"""``python -m examples.chat.cluster`` (``make demo-cluster``): the chat demo as two processes on a Redis Cluster.

Starts six ``redis-server --cluster-enabled yes`` (three masters, one replica each) on free 127.0.0.1 ports
in a temporary directory, then ``python -m examples.chat`` on two ports with
``EVENTBUS_REDIS_URL=redis+cluster://...`` and one shared ``EVENTBUS_JWT_SECRET``, so a token from one
process is valid on the other and a message sent on one reaches the pages of the other. Ctrl-C (or SIGTERM)
stops the demo processes and the nodes and removes the directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import TYPE_CHECKING

from devtools.redis_cluster import RedisClusterServers

if TYPE_CHECKING:
    from types import FrameType

ROOT = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


def demo_process(port: int, host: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "examples.chat", "--host", host, "--port", str(port)], env=env, cwd=ROOT
    )


def wait_answering(url: str, proc: subprocess.Popen[bytes], timeout: float = STARTUP_TIMEOUT) -> None:
    """Until ``GET /api/users`` answers: uvicorn listens only once the bus has subscribed on the cluster."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo process for {url} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/api/users", timeout=1).read()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo process for {url} did not answer within {timeout} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(directory: pathlib.Path, ports: list[int], host: str) -> int:
    """The cluster, then the demo processes; until Ctrl-C or one of them exits. Everything stopped on the way out."""
    cluster = RedisClusterServers(directory)
    cluster.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, "EVENTBUS_REDIS_URL": cluster.url, "PYTHONUNBUFFERED": "1"}
        env.setdefault("EVENTBUS_JWT_SECRET", "dev-" + secrets.token_hex(16))
        procs = [demo_process(port, host, env) for port in ports]
        urls = [f"http://{host}:{port}" for port in ports]
        for url, proc in zip(urls, procs, strict=True):
            wait_answering(url, proc)
        print(f"demo-cluster: ready on {' and '.join(urls)}, Redis Cluster {cluster.url} in {directory}", flush=True)
        print(f"  try {urls[0]}/?user=alice&chat=general and {urls[-1]}/?user=bob&chat=general", flush=True)
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.2)
        return 1  # a demo process exited by itself: its output above says why
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in procs:
            stop(proc)
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.chat.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", default="8000,8001", help="the demo processes' ports, comma-separated")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="eventbus-demo-cluster-") as directory:
        code = serve(pathlib.Path(directory), [int(port) for port in args.ports.split(",")], args.host)
    print(f"demo-cluster: stopped, {directory} removed", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
