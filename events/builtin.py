"""Events the library itself sends, declared like any other so codegen types them; every application may send them."""

from __future__ import annotations

from typing import Literal

from events.base import Event
from events.registry import ANY_APP


class SessionExpiredEvent(Event, app=ANY_APP):
    """Sent just before the server disconnects a connection whose token expired or was revoked.

    The client should reconnect with a fresh token (socket.io-client's ``auth`` callback).
    """

    reason: Literal["token_expired", "revoked"]


class SessionEndedEvent(Event, app=ANY_APP):
    """Sent just before the server closes this connection on purpose: a logout elsewhere, a ban.

    ``reason`` is the server's own word (``"logout"``, ``"banned"``). Do not
    reconnect automatically, unlike after ``session_expired``.
    """

    reason: str
