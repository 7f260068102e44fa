"""What the processes sharing a Redis channel have in common: the URL, the wire encoding, the client settings.

`Channel` is mixed into both python-socketio managers of `eventbus.transport.redis_manager`
(async for servers and `Emitter`, sync for `SyncEmitter`), so both sign,
refuse and report the same way.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from socketio.redis_manager import parse_redis_sentinel_url

from eventbus.exceptions import ConfigurationError, PublishError, RedisUnavailableError, SignatureError
from eventbus.observability import tracing
from eventbus.observability.logfields import library_logger
from eventbus.observability.recorder import NO_RECORDER, Recorder
from eventbus.transport.redis_url import cluster_nodes, is_cluster, redact
from eventbus.transport.sharding import Partitions
from eventbus.transport.signing import Signer, looks_signed

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = library_logger(__name__)

CLUSTER_REDIS_PY = (8, 0)
"""The first redis-py whose asyncio ``RedisCluster`` has pub/sub (``pubsub()``, SSUBSCRIBE): the ``cluster`` extra."""

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP/TLS connection to Redis before failing (a blackholed host must not hang a request)."""


class Channel:
    """What the async and sync managers share: URL, channel, wire encoding and client construction."""

    redis_url: str
    channel: str
    redis_options: dict[str, Any]
    json: Any
    signer: Signer | None
    recorder: Recorder = NO_RECORDER
    """Counts publish errors and dropped messages; the bus sets its own when metrics are on."""
    partitions: Partitions | None

    def _setup_signing(self, signing_key: str | None) -> None:
        self.signer = Signer(signing_key, channel=self.channel) if signing_key else None

    def _setup_sharding(self, sharding: bool, partitions: int, dedicated: Iterable[str]) -> None:
        # A cluster copies a classic PUBLISH to every node: there, channels are always sharded (SPUBLISH).
        self.cluster = is_cluster(self.redis_url)
        if self.cluster:
            require_cluster_client(version("redis"))
            if "{" in self.channel or "}" in self.channel:
                # Keys are placed in slots by a hash tag holding the channel's name: braces in it would move the tag.
                raise ConfigurationError(
                    f"on a Redis Cluster the channel name must not contain '{{' or '}}' (got {self.channel!r}): "
                    "set EVENTBUS_REDIS_CHANNEL to a name without braces"
                )
        self.partitions = Partitions(self.channel, partitions, dedicated) if sharding or self.cluster else None

    def _channel_for(self, message: dict[str, Any]) -> str:
        """The channel ``message`` is published on: its room's partition when sharded, else the channel itself."""
        return self.channel if self.partitions is None else self.partitions.channel_for(message)

    @property
    def safe_url(self) -> str:
        """The Redis URL with its password hidden, for messages and logs."""
        return redact(self.redis_url)

    def _encode(self, message: dict[str, Any]) -> str:
        tracing.inject(message)  # inside the signed body: a forged trace context is dropped with its message
        if self.signer is not None:
            return self.signer.sign(message)
        encoded: str = self.json.dumps(message)
        return encoded

    def _publish_failed(self, message: dict[str, Any], exc: Exception) -> PublishError:
        method = message.get("method")
        self.recorder.redis_publish_error()
        logger.error("could not publish %r to Redis at %s channel %r: %s", method, self.safe_url, self.channel, exc)
        return PublishError(
            f"could not publish {method!r} to Redis at {self.safe_url} (channel {self.channel!r}): {exc} "
            "(nothing was delivered: the call may be retried)"
        )

    def _unavailable(self, exc: Exception) -> RedisUnavailableError:
        return RedisUnavailableError(
            f"cannot reach Redis at {self.safe_url} ({exc}); check that redis-server is running and reachable "
            "from here, and EVENTBUS_REDIS_URL: host, port, user, password, rediss:// for TLS"
        )

    def _new_client(self, module: Any, retry: Any) -> Any:
        options = {"socket_connect_timeout": CONNECT_TIMEOUT, "retry": retry, **self.redis_options}
        if self.cluster:
            # redis-py's cluster client follows MOVED/ASK and refreshes its slot map after a failover itself.
            nodes, credentials = cluster_nodes(self.redis_url)
            startup = [module.cluster.ClusterNode(host, port) for host, port in nodes]
            ssl = self.redis_url.lower().startswith("rediss")
            options.pop("retry")
            return module.cluster.RedisCluster(startup_nodes=startup, ssl=ssl, **{**options, **credentials})
        if urlsplit(self.redis_url).scheme == "redis+sentinel":
            sentinels, service, credentials = parse_redis_sentinel_url(self.redis_url)
            sentinel = module.sentinel.Sentinel(sentinels, **{**options, **credentials})
            return sentinel.master_for(service or self.channel)
        return module.Redis.from_url(self.redis_url, **options)

    def _decode(self, raw: bytes | str, *, fresh: bool = True) -> dict[str, Any] | None:
        """The message to act on, or ``None`` (logged) when it must be dropped; ``fresh``: see `Signer.verify`."""
        if self.signer is not None:
            try:
                return self.signer.verify(raw, fresh=fresh)
            except SignatureError as exc:
                self.recorder.redis_dropped(exc.reason)
                logger.warning("dropped %s message from Redis channel %r: %s", _method_of(raw), self.channel, exc)
                return None
        if looks_signed(raw):
            self.recorder.redis_dropped("unexpected_signed")
            logger.warning(
                "dropped a signed message from Redis channel %r: this process has no signing key "
                "(set EVENTBUS_REDIS_SIGNING_KEY to the same value everywhere)",
                self.channel,
            )
            return None
        try:
            message = self.json.loads(raw)
        except ValueError:
            self.recorder.redis_dropped("malformed")
            logger.warning("dropped a message from Redis channel %r that is not JSON", self.channel)
            return None
        return message if isinstance(message, dict) else None


def require_cluster_client(installed: str) -> None:
    """Refuse a ``redis+cluster://`` URL when redis-py ``installed`` predates asyncio cluster pub/sub.

    Fails at construction rather than leaving the listener to fail in a loop once the server has started.

        >>> require_cluster_client("8.1.0")
        >>> require_cluster_client("5.0.8")
        Traceback (most recent call last):
        ...
        eventbus.exceptions.ConfigurationError: redis+cluster:// needs redis-py 8.0 or newer ...
    """
    release = tuple(int(part) for part in installed.split(".")[:2] if part.isdigit())
    if release < CLUSTER_REDIS_PY:
        raise ConfigurationError(
            f"redis+cluster:// needs redis-py 8.0 or newer (its asyncio RedisCluster has no pub/sub before), "
            f"and redis-py {installed} is installed: pip install 'typed-eventbus[cluster]'"
        )


def _method_of(raw: bytes | str) -> str:
    # Best effort, for the log line only: a forged message is still plain python-socketio JSON.
    try:
        method = json.loads(raw).get("method")
    except (ValueError, AttributeError):
        return "a"
    return f"an unsigned {method!r}" if isinstance(method, str) else "an unsigned"
