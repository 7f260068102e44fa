"""A real ``redis-server`` on a free 127.0.0.1 port, in a temporary directory, that tests can stop and restart."""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import shutil
import subprocess
import time

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import free_port

INSTALL_HINT = "redis-server is not installed: apt-get install redis-server (make test installs it)"


class RedisServer:
    """One ``redis-server`` process without persistence; ``stop()`` and ``start()`` keep the same port."""

    def __init__(self, directory: pathlib.Path, *extra_args: str, tls: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.extra_args = extra_args
        self.tls = tls
        if tls:
            self.cert = write_self_signed_cert(directory)
            # The later --port wins: plain TCP off, TLS only.
            self.extra_args = ("--port", "0", "--tls-port", str(self.port), *tls_files(self.cert), *extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, timeout: float = 10) -> None:
        self.starts += 1
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--logfile", str(self.log), *self.extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        # The log line, not a PING: it works the same with a password, an ACL or TLS in extra_args.
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
