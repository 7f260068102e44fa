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
    """Sent just before the server closes this connection on purpose; ``reason`` says why, and what to do next.

    The library sends two reasons itself; every other is the application's own word
    (``bus.disconnect_user(user_id, reason="banned")``):

    - ``"slow_consumer"``: the connection fell behind (more than ``EVENTBUS_MAX_QUEUE_BYTES``
      waiting, or one write stuck for ``EVENTBUS_WRITE_TIMEOUT``) and what was queued for it
      is lost. Reconnecting is right: socket.io-client does it by itself after its
      reconnection delay (the server closed the transport). The session is not recovered,
      so refetch state once connected again.
    - ``"redis_gap"``: this server's Redis subscription was away and the recovery stream
      no longer covers what was published meanwhile (with ``EVENTBUS_RECOVERY_WINDOW`` on).
      Reconnect, as socket.io-client does by itself; ``socket.recovered`` is then false,
      so refetch state.
    - an application's reason (``"logout"``, ``"banned"``): the session was ended on
      purpose. Do not reconnect automatically (unlike after ``session_expired``); the
      server ended it with a Socket.IO disconnect, after which socket.io-client does not
      reconnect by itself. Show the reason.
    """

    reason: str
