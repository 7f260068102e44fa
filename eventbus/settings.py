"""Configuration from ``EVENTBUS_*`` environment variables; keyword arguments to `EventBus` take precedence."""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Transport = Literal["polling", "websocket"]


def _split_commas(value: Any) -> Any:
    # Lists in the environment are written "a,b,c": friendlier than the JSON pydantic-settings expects.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class AppSettings(BaseModel):
    """One application of ``EVENTBUS_APPS``: its path and auth policy.

    ``jwt_*`` keys given here replace the bus-wide ``EVENTBUS_JWT_*`` values for
    this application only; with none, it verifies tokens like the bus does.
    Anonymous connections are refused unless ``allow_anonymous`` is true.

    Example:
        >>> AppSettings(path="/admin", jwt_audience="admin").jwt_overrides()
        {'jwt_audience': 'admin'}
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    allow_anonymous: bool = False
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: list[str] | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway: float | None = Field(default=None, ge=0)
    jwt_user_id_claim: str | None = None
    jwt_cookie: str | None = None

    def jwt_overrides(self) -> dict[str, Any]:
        """The ``jwt_*`` values this application sets, to lay over the bus-wide settings."""
        return {key: value for key, value in self if key.startswith("jwt_") and value is not None}


class AdminUI(BaseModel):
    """The Socket.IO Admin UI (``EVENTBUS_ADMIN_UI`` as JSON, or ``EventBus(admin_ui=AdminUI(...))``).

    The UI logs in with ``username`` and a password checked against ``password_hash``
    (make one with ``eventbus admin-password``); ``mode="production"`` refuses to start
    without them. ``read_only`` (the default) leaves out the UI's emit, join, leave and
    disconnect commands. ``mode="development"`` also lists every socket, room and event,
    at a cost on every broadcast; ``"production"`` sends server statistics only.

    Example:
        >>> AdminUI(username="ops", password_hash="scrypt$...").namespace
        '/socketio-admin'
    """

    model_config = ConfigDict(extra="forbid")

    username: str | None = None
    password_hash: SecretStr | None = None
    namespace: str = "/socketio-admin"
    read_only: bool = True
    mode: Literal["development", "production"] = "development"
    server_stats_interval: float = Field(default=2, gt=0)


def _load_apps(value: Any) -> Any:
    """``EVENTBUS_APPS``: a JSON list, or the path of a ``.toml``/``.json`` file holding ``apps = [...]``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    path = pathlib.Path(text)
    if path.suffix not in (".toml", ".json") or not path.is_file():
        raise ValueError(
            f"EVENTBUS_APPS must be a JSON list or the path of an existing .toml or .json file (got {text[:80]!r})"
        )
    data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("apps"), list):
        raise ValueError(f"{path} must hold a list named 'apps' ([[apps]] tables in TOML, {{\"apps\": [...]}} in JSON)")
    return data["apps"]


class EventBusSettings(BaseSettings):
    """Every option of the bus, read from the environment (prefix ``EVENTBUS_``) or an ``.env`` file.

    Example:
        >>> import os
        >>> os.environ["EVENTBUS_CORS_ORIGINS"] = "http://localhost:5173,https://app.example.com"
        >>> EventBusSettings().cors_origins
        ['http://localhost:5173', 'https://app.example.com']
        >>> del os.environ["EVENTBUS_CORS_ORIGINS"]
    """

    model_config = SettingsConfigDict(env_prefix="EVENTBUS_", env_file=".env", extra="ignore")

    redis_url: SecretStr | None = Field(default=None, description="Redis URL; unset means one process, in memory.")
    redis_channel: str = Field(default="eventbus", description="Redis pub/sub channel shared by the processes.")
    redis_sharding: bool = Field(
        default=False,
        description="Room-sharded pub/sub: a room's messages go to one of `redis_partitions` channels, and a process "
        "subscribes only to those of rooms it has members in. Off: one channel, every process gets every message. "
        "Set it the same on every process and Emitter.",
    )
    redis_partitions: int = Field(
        default=64, ge=1, le=16384, description="Partition channels of room-sharded pub/sub (`redis_sharding`)."
    )
    redis_dedicated_rooms: Annotated[list[str], NoDecode] = Field(
        default=["user"],
        description="Room prefixes whose rooms get a channel of their own with `redis_sharding` (and on a cluster) "
        "instead of a partition: every connection is in its `user:` room, so those would take every partition. "
        "Empty: every room on the partitions. Set it the same on every process and Emitter.",
    )
    redis_signing_key: SecretStr | None = Field(
        default=None, description="Shared key: every Redis message is signed (HMAC-SHA256), unsigned ones are dropped."
    )
    jwt_secret: SecretStr | None = Field(default=None, description="Secret for HS256/384/512 tokens.")
    jwt_public_key: str | None = Field(default=None, description="PEM public key for RS*/PS*/ES*/EdDSA tokens.")
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default=["HS256"], description="Accepted algorithms.")
    jwt_audience: str | None = Field(default=None, description="Required `aud` claim, when set.")
    jwt_issuer: str | None = Field(default=None, description="Required `iss` claim, when set.")
    jwt_leeway: float = Field(default=0, ge=0, description="Seconds of clock skew tolerated on `exp`/`nbf`.")
    jwt_user_id_claim: str = Field(default="sub", description="Claim holding the user id.")
    jwt_cookie: str | None = Field(default=None, description="Cookie read for the token when no other is given.")
    allow_anonymous: bool = Field(default=False, description="Accept connections that present no credential.")
    fast_emit: bool = Field(
        default=True,
        description="Queue broadcast packets without a task per recipient (see eventbus.transport.fastpath) and "
        "answer client events' acks without python-socketio's dispatch (eventbus.transport.fastacks).",
    )
    coalesce_turns: int | None = Field(
        default=None,
        ge=0,
        description="Event loop turns after a batch of broadcasts during which further ones wait to go out "
        "together, one writer wake-up per connection (see eventbus.transport.coalescing); 0 sends each at once; "
        "unset: 64 with Redis, 0 in memory.",
    )
    cors_origins: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="Allowed browser origins ('*' for any); unset means same origin only."
    )

    max_payload_bytes: int = Field(
        default=1_000_000,
        gt=0,
        description="Largest message a client may send; engine.io closes a bigger one's connection.",
    )
    rate_limit: float = Field(default=100, gt=0, description="Client events and joins per second per connection.")
    rate_burst: int = Field(default=200, gt=0, description="Burst allowed above the rate limit.")
    max_rooms: int = Field(default=1000, gt=0, description="Rooms a connection may join (its own rooms aside).")
    max_queue_bytes: int = Field(
        default=1 << 20,
        ge=4096,
        description="Bytes a connection may have waiting to be written (queued or held for coalescing); past it the "
        "connection is a slow consumer: it gets session_ended (reason slow_consumer) and is disconnected. "
        "One message larger than this still goes out when nothing else is waiting.",
    )
    write_timeout: float = Field(
        default=5,
        gt=0,
        description="Seconds one websocket write may wait for the client to read before the connection is dropped "
        "as a slow consumer.",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="The garbage collector's first threshold while the bus runs (raised, never lowered, from "
        "CPython's 700, and restored at shutdown): at 1,000 busy connections the default ran collections over "
        "every request in flight several times per loop turn (see eventbus.serving.gc_threshold); 0 leaves it.",
    )
    max_connections_per_user: int = Field(
        default=100,
        gt=0,
        description="Connections one user may hold to one application on this process; the next is refused with "
        "connect error too_many_connections.",
    )

    presence_ttl: float = Field(
        default=10, gt=0, description="Seconds without a heartbeat after which a process's presence members are reaped."
    )
    presence_interval: float = Field(
        default=3, gt=0, description="Seconds between presence heartbeats and reaper passes (below the ttl)."
    )
    recovery_window: float = Field(
        default=0,
        ge=0,
        description="Seconds a dropped connection may come back within and get what it missed (Socket.IO connection "
        "state recovery); 0 turns it off. When on, every recoverable event carries its offset as a last argument.",
    )
    recovery_max_packets: int = Field(
        default=100_000,
        gt=0,
        description="Most packets kept for recovery (per process in memory, per channel on Redis), "
        "whatever the window.",
    )
    apps: Annotated[list[AppSettings], NoDecode] = Field(
        default=[], description="Applications besides '/': a JSON list or a .toml/.json file path."
    )
    ping_interval: float = Field(default=25, gt=0, description="Seconds between engine.io pings.")
    ping_timeout: float = Field(default=20, gt=0, description="Seconds without a pong before a client is dropped.")
    compression_threshold: int = Field(
        default=1024, ge=0, description="Long-polling responses larger than this many bytes are compressed."
    )
    transports: Annotated[list[Transport], NoDecode] = Field(
        default=["polling", "websocket"], min_length=1, description="Transports clients may use."
    )
    metrics: bool = Field(
        default=False,
        description="Record Prometheus metrics (needs the 'metrics' extra); asgi_app() serves them at metrics_path.",
    )
    metrics_path: str = Field(
        default="/metrics", pattern=r"^/", description="Path asgi_app() serves the metrics at, when metrics are on."
    )
    admin_ui: AdminUI | None = Field(
        default=None,
        description="The Socket.IO Admin UI: JSON such as "
        '{"username": "ops", "password_hash": "scrypt$...", "read_only": true}; unset means off.',
    )
    log_level: LogLevel | None = Field(default=None, description="Level of the 'eventbus' loggers.")
    socketio_log_level: LogLevel | None = Field(default=None, description="Level of python-socketio's logger.")
    engineio_log_level: LogLevel | None = Field(default=None, description="Level of python-engineio's logger.")

    _split = field_validator("jwt_algorithms", "cors_origins", "transports", "redis_dedicated_rooms", mode="before")(
        _split_commas
    )
    _levels = field_validator("log_level", "socketio_log_level", "engineio_log_level", mode="before")(_upper)
    _apps = field_validator("apps", mode="before")(_load_apps)
