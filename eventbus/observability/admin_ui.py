"""The Admin UI's login: passwords kept as scrypt hashes (Python's standard library), checked in constant time.

``eventbus admin-password`` prints a hash for ``EVENTBUS_ADMIN_UI``'s ``password_hash``;
the plain password is never stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from typing import Any

from eventbus.exceptions import ConfigurationError

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """An ``scrypt$n$r$p$salt$hash`` string for ``password``.

    Example:
        >>> hash_password("changeit").startswith("scrypt$16384$8$1$")
        True
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed`` (from `hash_password`).

    Example:
        >>> check_password("changeit", hash_password("changeit")), check_password("guess", hash_password("changeit"))
        (True, False)
    """
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ConfigurationError(
            "the Admin UI password_hash must come from `eventbus admin-password` (scrypt$n$r$p$salt$hash), "
            f"got a value starting {hashed[:8]!r}"
        )
    n, r, p = (int(part) for part in parts[1:4])
    salt, expected = _unb64(parts[4]), _unb64(parts[5])
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p)
    return hmac.compare_digest(digest, expected)


class AdminLogin:
    """Checks what the Admin UI sends (username and password); ``check`` is the ``auth`` given to ``instrument()``."""

    def __init__(self, username: str, password_hash: str) -> None:
        check_password("", password_hash)  # refuses a malformed hash at startup, not at the first login
        self.username = username
        self._hash = password_hash

    async def check(self, auth: Any) -> bool:
        """Whether the login is right. A coroutine function, as python-socketio awaits only those (it would
        take the coroutine an async ``__call__`` returns for a truthy answer)."""
        if not isinstance(auth, dict):
            return False
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return False
        # scrypt takes tens of milliseconds on purpose: off the event loop.
        matches = await asyncio.to_thread(check_password, password, self._hash)
        return matches and hmac.compare_digest(username.encode(), self.username.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
