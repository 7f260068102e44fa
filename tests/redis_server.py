"""A real ``redis-server`` on a free 127.0.0.1 port, in a temporary directory, that tests can stop and restart."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pathlib

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.redis_server import INSTALL_HINT, RedisProcess
from tests.servers import free_port

__all__ = ["INSTALL_HINT", "RedisServer", "tls_files", "write_self_signed_cert"]


class RedisServer(RedisProcess):
    """One ``redis-server`` on a free port, optionally TLS only; ``stop()`` and ``start()`` keep the same port."""

    def __init__(self, directory: pathlib.Path, *extra_args: str, tls: bool = False) -> None:
        super().__init__(directory, free_port(), *extra_args)
        self.tls = tls
        if tls:
            self.cert = write_self_signed_cert(directory)
            # The later --port wins: plain TCP off, TLS only.
            self.extra_args = ("--port", "0", "--tls-port", str(self.port), *tls_files(self.cert), *extra_args)

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown, and (without persistence) every key lost."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def kill_subscriptions_of(self, pid: int) -> int:
        """``CLIENT KILL`` the pub/sub connections that process ``pid`` holds (its listener): how many there were.

        Redis tells a process's connections apart only by their address: the ports are read from /proc.
        """
        ports = local_ports(pid)
        client = self.client()
        try:
            listeners = [c for c in client.client_list(_type="pubsub") if int(c["addr"].rsplit(":", 1)[1]) in ports]
            for connection in listeners:
                client.client_kill_filter(_id=connection["id"])
        finally:
            client.close()
        return len(listeners)


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of process ``pid``'s sockets (Linux: its fds' socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for line in pathlib.Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def tls_files(cert: pathlib.Path) -> tuple[str, ...]:
    key = cert.with_suffix(".key")
    return (
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(cert),
        "--tls-auth-clients",
        "no",
    )


def write_self_signed_cert(directory: pathlib.Path) -> pathlib.Path:
    """A certificate for 127.0.0.1 that is its own CA (``ssl_ca_certs`` trusts it), and its key beside it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "redis.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path
