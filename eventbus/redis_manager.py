"""python-socketio's Redis managers, hardened for production.

Three changes to ``socketio.AsyncRedisManager`` / ``socketio.RedisManager``,
each small and each because the stock behaviour loses messages silently or
trusts the channel:

- publishing raises `PublishError` when Redis refuses or is down, instead of
  logging "giving up" and returning; on a server the message is published
  before it is delivered to local sockets, so a failed broadcast reached nobody
  and may be retried;
- the listener has its own connection, reconnects with a short capped backoff
  and logs loss and recovery with the URL (password hidden);
- with a signing key, every message is sealed by `Signer` and unsigned,
  forged, stale or replayed ones are dropped and logged.

It also adds ``disconnect_room``: disconnect every socket in a room (all
connections of a user) on every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import socketio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from socketio.redis_manager import parse_redis_sentinel_url

from eventbus._redis_url import check_url, redact
from eventbus.exceptions import PublishError, RedisUnavailableError, SignatureError
from eventbus.signing import Signer, looks_signed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP/TLS connection to Redis before failing (a blackholed host must not hang a request)."""
LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 5.0
"""Backoff bounds of the listener's reconnection: short, so delivery resumes within seconds of Redis returning."""

# Set while a server's own emit is publishing: its local delivery waits until the publish has succeeded.
_held_local: ContextVar[list[dict[str, Any]] | None] = ContextVar("_held_local", default=None)


class _Channel:
    """What the async and sync managers share: URL, channel, wire encoding and client construction."""

    redis_url: str
    channel: str
    redis_options: dict[str, Any]
    json: Any
    signer: Signer | None

    def _setup_signing(self, signing_key: str | None) -> None:
        self.signer = Signer(signing_key, channel=self.channel) if signing_key else None

    @property
    def safe_url(self) -> str:
        """The Redis URL with its password hidden, for messages and logs."""
        return redact(self.redis_url)

    def _encode(self, message: dict[str, Any]) -> str:
        if self.signer is not None:
            return self.signer.sign(message)
        encoded: str = self.json.dumps(message)
        return encoded

    def _publish_failed(self, message: dict[str, Any], exc: Exception) -> PublishError:
        method = message.get("method")
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
        if urlsplit(self.redis_url).scheme == "redis+sentinel":
            sentinels, service, credentials = parse_redis_sentinel_url(self.redis_url)
            sentinel = module.sentinel.Sentinel(sentinels, **{**options, **credentials})
            return sentinel.master_for(service or self.channel)
        return module.Redis.from_url(self.redis_url, **options)

    def _decode(self, raw: bytes | str) -> dict[str, Any] | None:
        """The message to act on, or ``None`` (logged) when it must be dropped."""
        if self.signer is not None:
            try:
                return self.signer.verify(raw)
            except SignatureError as exc:
                logger.warning("dropped %s message from Redis channel %r: %s", _method_of(raw), self.channel, exc)
                return None
        if looks_signed(raw):
            logger.warning(
                "dropped a signed message from Redis channel %r: this process has no signing key "
                "(set EVENTBUS_REDIS_SIGNING_KEY to the same value everywhere)",
                self.channel,
            )
            return None
        try:
            message = self.json.loads(raw)
        except ValueError:
            logger.warning("dropped a message from Redis channel %r that is not JSON", self.channel)
            return None
        return message if isinstance(message, dict) else None


def _method_of(raw: bytes | str) -> str:
    # Best effort, for the log line only: a forged message is still plain python-socketio JSON.
    try:
        method = json.loads(raw).get("method")
    except (ValueError, AttributeError):
        return "a"
    return f"an unsigned {method!r}" if isinstance(method, str) else "an unsigned"


class RedisManager(_Channel, socketio.AsyncRedisManager):  # type: ignore[misc]
    """The client manager of a Redis-backed `EventBus`, and the publisher behind `Emitter` (``write_only``).

    Example:
        >>> manager = RedisManager("redis://localhost:6379/0", channel="eventbus", signing_key=KEY)  # doctest: +SKIP
        >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)  # doctest: +SKIP
    """

    name = "eventbus-redis"

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        signing_key: str | None = None,
        write_only: bool = False,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(check_url(url), channel=channel, write_only=write_only, redis_options=redis_options)
        self._setup_signing(signing_key)
        self.subscribed = asyncio.Event()
        self._publisher: Any = None
        self._publisher_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"RedisManager({self.safe_url!r}, channel={self.channel!r}, signed={self.signer is not None})"

    async def check(self) -> None:
        """Ping Redis; raise `RedisUnavailableError` naming the URL (password hidden) when it does not answer."""
        try:
            await self._client().ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        """Stop listening and close the connections."""
        listener: asyncio.Task[None] | None = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            self.thread = None
        if self._publisher is not None:
            await self._publisher.aclose()
            self._publisher = None

    async def emit(self, event: str, data: Any, namespace: str | None = None, **kwargs: Any) -> None:
        if kwargs.get("ignore_queue") or self.write_only:
            await super().emit(event, data, namespace=namespace, **kwargs)
            return
        held: list[dict[str, Any]] = []
        token = _held_local.set(held)
        try:
            await super().emit(event, data, namespace=namespace, **kwargs)
        finally:
            _held_local.reset(token)
        for message in held:
            await super()._handle_emit(message)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        held = _held_local.get()
        if held is not None:
            held.append(message)
        elif not self.write_only:
            await super()._handle_emit(message)

    async def disconnect_room(self, room: str, namespace: str = "/") -> None:
        """Disconnect every socket in ``room``, on this process and on every other one."""
        message = {"method": "disconnect_room", "room": room, "namespace": namespace, "host_id": self.host_id}
        await self._publish(message)
        if not self.write_only:
            await self._handle_disconnect_room(message)

    async def _handle_disconnect_room(self, message: dict[str, Any]) -> None:
        namespace = message.get("namespace") or "/"
        for sid, _ in list(self.get_participants(namespace, message.get("room"))):
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)

    def _client(self) -> Any:
        # A client's connections belong to the loop that opened them: code that calls asyncio.run() per task
        # (a Celery worker using the async Emitter) gets a fresh client per loop instead of a dead one.
        loop = asyncio.get_running_loop()
        if self._publisher is None or self._publisher_loop is not loop:
            self._publisher = self._new_client(redis.asyncio, AsyncRetry(NoBackoff(), 1))
            self._publisher_loop = loop
        return self._publisher

    async def _publish(self, data: dict[str, Any]) -> Any:
        try:
            return await self._client().publish(self.channel, self._encode(data))
        except (RedisError, OSError) as exc:
            raise self._publish_failed(data, exc) from exc

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        channel = self.channel.encode()
        async for message in self._subscription():
            if message.get("channel") != channel or message.get("type") != "message":
                continue
            decoded = self._decode(message["data"])
            if decoded is None:
                continue
            if decoded.get("method") == "disconnect_room":
                if decoded.get("host_id") != self.host_id:
                    await self._handle_disconnect_room(decoded)
                continue
            yield decoded

    async def _subscription(self) -> AsyncIterator[dict[str, Any]]:
        delay, lost_at = LISTEN_RETRY_MIN, None
        while True:
            # No retries inside redis-py: a lost connection surfaces here, where it is logged and retried.
            client = self._new_client(redis.asyncio, AsyncRetry(NoBackoff(), 0))
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                if lost_at is None:
                    logger.info("listening on Redis at %s channel %r", self.safe_url, self.channel)
                else:
                    logger.warning(
                        "resubscribed to Redis at %s channel %r after %.1fs: delivery resumed "
                        "(messages published meanwhile did not reach this process's clients)",
                        self.safe_url,
                        self.channel,
                        time.monotonic() - lost_at,
                    )
                delay, lost_at = LISTEN_RETRY_MIN, None
                async for message in pubsub.listen():
                    yield message
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                if lost_at is None:
                    lost_at = time.monotonic()
                    logger.error("lost the Redis subscription at %s: %s", self.safe_url, exc)
                logger.warning("cannot reach Redis at %s (%s); retrying in %.1fs", self.safe_url, exc, delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTEN_RETRY_MAX)


class SyncRedisManager(_Channel, socketio.RedisManager):  # type: ignore[misc]
    """The write-only publisher behind `SyncEmitter`: blocking calls, safe to share between threads."""

    name = "eventbus-redis-sync"

    def __init__(
        self, url: str, *, channel: str, signing_key: str | None = None, redis_options: dict[str, Any] | None = None
    ) -> None:
        super().__init__(check_url(url), channel=channel, write_only=True, redis_options=redis_options)
        self._setup_signing(signing_key)
        self._publisher: Any = None

    def __repr__(self) -> str:
        return f"SyncRedisManager({self.safe_url!r}, channel={self.channel!r}, signed={self.signer is not None})"

    def check(self) -> None:
        """Ping Redis; raise `RedisUnavailableError` naming the URL (password hidden) when it does not answer."""
        try:
            self._client().ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        """Close the connections."""
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def _handle_emit(self, message: dict[str, Any]) -> None:
        """Write-only: there are no local sockets to deliver to."""

    def disconnect_room(self, room: str, namespace: str = "/") -> None:
        """Disconnect every socket in ``room`` on every server process."""
        self._publish({"method": "disconnect_room", "room": room, "namespace": namespace, "host_id": self.host_id})

    def _client(self) -> Any:
        if self._publisher is None:
            self._publisher = self._new_client(redis, Retry(NoBackoff(), 1))
        return self._publisher

    def _publish(self, data: dict[str, Any]) -> Any:
        try:
            return self._client().publish(self.channel, self._encode(data))
        except (RedisError, OSError) as exc:
            raise self._publish_failed(data, exc) from exc
