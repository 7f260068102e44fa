"""Signed Redis messages: only holders of the shared key can make the servers emit, join, leave or disconnect.

python-socketio's Redis messages are plain JSON acted on by their ``method``
field, so anyone who can publish on the channel could emit to any client or
put any socket in any room, bypassing ``can_join``. With a key configured,
every message is sealed as ``eb1.<hmac>.<body>``: the HMAC-SHA256 covers the
channel name and the body, and the body carries a timestamp and a random
nonce, so forged, tampered, stale and replayed messages are all refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from eventbus.exceptions import ConfigurationError, SignatureError

PREFIX = "eb1."
MIN_KEY_LENGTH = 16


def looks_signed(raw: bytes | str) -> bool:
    """Whether ``raw`` is in the signed wire format (to explain drops when keys are configured on one side only)."""
    return (raw[:4] == PREFIX.encode()) if isinstance(raw, bytes) else raw.startswith(PREFIX)


class Signer:
    """Seals outgoing channel messages and opens incoming ones with a shared key.

    ``max_age`` bounds how far a message's timestamp may be from this host's
    clock (keep hosts on NTP); nonces are remembered that long, so a replay
    inside the window is refused as well as one after it.

    Example:
        >>> signer = Signer("a-long-random-shared-key", channel="eventbus")
        >>> wire = signer.sign({"method": "emit", "event": "message"})
        >>> signer.verify(wire)["event"]
        'message'
    """

    def __init__(self, key: str | bytes, *, channel: str, max_age: float = 30) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"the Redis signing key must be at least {MIN_KEY_LENGTH} characters (got {len(key)}); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        self._key = key.encode() if isinstance(key, str) else key
        self._channel = channel.encode()
        self.max_age = max_age
        self._seen: dict[str, float] = {}  # nonce -> monotonic expiry, in arrival order

    def __repr__(self) -> str:
        return f"Signer(channel={self._channel.decode()!r}, max_age={self.max_age})"

    def sign(self, message: dict[str, Any]) -> str:
        """The wire form of ``message``: prefix, HMAC and a body holding the message, a timestamp and a nonce."""
        body = json.dumps({"ts": time.time(), "nonce": secrets.token_hex(16), "msg": message})
        return f"{PREFIX}{self._mac(body)}.{body}"

    def verify(self, raw: bytes | str, *, fresh: bool = True) -> dict[str, Any]:
        """The message inside ``raw``; raises `SignatureError` saying why when it must not be acted on.

        ``fresh=False`` checks the signature only: for a message read back from the recovery log, which is
        older than ``max_age`` by design and read again by every process a client comes back to.
        """
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise SignatureError("message is not UTF-8", reason="unsigned") from None
        if not text.startswith(PREFIX):
            raise SignatureError("message is not signed", reason="unsigned")
        mac, _, body = text[len(PREFIX) :].partition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise SignatureError("signature does not match (wrong key, other channel, or tampered body)")
        envelope = json.loads(body)
        if not isinstance(envelope, dict):
            raise SignatureError("signed body is not an object")
        message, stamp, nonce = envelope.get("msg"), envelope.get("ts"), envelope.get("nonce")
        if not isinstance(message, dict) or not isinstance(stamp, int | float) or not isinstance(nonce, str):
            raise SignatureError("signed body lacks msg, ts or nonce")
        if not fresh:
            return message
        skew = time.time() - stamp
        if abs(skew) > self.max_age:
            raise SignatureError(
                f"message is {skew:.0f}s old, outside the {self.max_age:g}s window (replay or clock)", reason="stale"
            )
        self._remember(nonce)
        return message

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, self._channel + b"\n" + body.encode(), hashlib.sha256).hexdigest()

    def _remember(self, nonce: str) -> None:
        now = time.monotonic()
        while self._seen:
            oldest = next(iter(self._seen))
            if self._seen[oldest] > now:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            raise SignatureError("message was already received once (replayed)", reason="replayed")
        # A timestamp accepted now stays acceptable for at most 2 * max_age from here.
        self._seen[nonce] = now + 2 * self.max_age
