"""`Recorder`: what the bus reports as it runs. This base records nothing; `metrics.PrometheusRecorder` does.

Callers pass label values the bus itself chose (application paths, registered event
names, room prefixes, ack codes), never what a client sent: an event no handler knows
is reported as `UNKNOWN_EVENT`, so a client cannot create series.
"""

from __future__ import annotations

UNKNOWN_EVENT = "_unknown"
"""The ``event`` label of client events no handler is registered for, whatever name the client sent."""

DISCONNECT_REASONS = {
    "client disconnect": "client",
    "server disconnect": "server",
    "ping timeout": "ping_timeout",
    "transport close": "transport_close",
    "transport error": "transport_error",
    "slow_consumer": "slow_consumer",
    "redis_gap": "redis_gap",
}
"""python-socketio's disconnect reasons as the ``reason`` label spells them, and the bus's ``slow_consumer``
(`eventbus.transport.outbound`) and ``redis_gap`` (`eventbus.transport.redis_manager`); the bus adds
``token_expired`` and ``kicked``, and anything else is ``other``."""

DROP_REASONS = ("unsigned", "forged", "stale", "replayed", "malformed", "unexpected_signed")
"""Why a message read from the Redis channel was dropped: ``eventbus_redis_messages_dropped_total``'s ``reason``."""


def disconnect_reason(reason: object) -> str:
    """The ``reason`` label of a python-socketio disconnect reason.

    Example:
        >>> disconnect_reason("ping timeout"), disconnect_reason("slow_consumer"), disconnect_reason("something new")
        ('ping_timeout', 'slow_consumer', 'other')
    """
    return DISCONNECT_REASONS.get(reason, "other") if isinstance(reason, str) else "other"


class Recorder:
    """Receives every countable moment of a bus; this base ignores them all (metrics off)."""

    enabled = False
    """Whether anything is recorded: callers skip timing when it is not."""

    def connect(self, app: str, result: str) -> None:
        """A connection attempt: ``accepted``, or the refusal code the client got."""

    def disconnect(self, app: str, reason: str) -> None:
        """A connection ended, for ``reason`` (see `disconnect_reason`)."""

    def sent(self, app: str, event: str, seconds: float) -> None:
        """One broadcast (or emit) handed to Socket.IO, and how long it took on this process."""

    def delivered(self, app: str, event: str, recipients: int) -> None:
        """One message queued for ``recipients`` connections of this process."""

    def client_event(self, app: str, event: str, code: str, seconds: float) -> None:
        """One client event answered with ack code ``code`` (``ok`` or the error code) after ``seconds``."""

    def join(self, app: str, room_prefix: str, code: str) -> None:
        """One join of a room class answered with ``code``."""

    def invalid_packet(self, app: str) -> None:
        """A packet the inbound guard refused (malformed, oversized, undecodable) from a connection of ``app``."""

    def redis_publish_error(self) -> None:
        """A publish to Redis failed (the caller got `PublishError`)."""

    def redis_dropped(self, reason: str) -> None:
        """A message from the Redis channel was dropped, for one of `DROP_REASONS`."""

    def redis_resubscribed(self) -> None:
        """The Redis subscription was lost and made again."""

    def redis_gap(self, outcome: str) -> None:
        """A gap in the Redis subscription ended: ``caught_up`` from the recovery stream, ``sessions_ended`` (the
        stream no longer covered it), or ``lost`` (no recovery: what was published meanwhile never arrived)."""


NO_RECORDER = Recorder()
"""The shared no-op recorder of buses without metrics."""
