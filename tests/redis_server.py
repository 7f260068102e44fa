"""A real ``redis-server`` on a free 127.0.0.1 port, in a temporary directory, that tests can stop and restart."""

from __future__ import annotations

import datetime
import ipaddress
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
