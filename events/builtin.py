"""Events the library itself sends, declared like any other so codegen types them."""

from __future__ import annotations

from typing import Literal

from events.base import Event


class SessionExpiredEvent(Event):
    """Sent just before the server disconnects a connection whose token expired or was revoked.

    The client should reconnect with a fresh token (socket.io-client's ``auth`` callback).
    """

    reason: Literal["token_expired", "revoked"]
