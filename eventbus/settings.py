"""Configuration from ``EVENTBUS_*`` environment variables; keyword arguments to `EventBus` take precedence."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: Any) -> Any:
    # Lists in the environment are written "a,b,c": friendlier than the JSON pydantic-settings expects.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


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
        default=True, description="Queue broadcast packets without a task per recipient (see eventbus.fastpath)."
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

    presence_ttl: float = Field(
        default=10, gt=0, description="Seconds without a heartbeat after which a process's presence members are reaped."
    )
    presence_interval: float = Field(
        default=3, gt=0, description="Seconds between presence heartbeats and reaper passes (below the ttl)."
    )

    _split = field_validator("jwt_algorithms", "cors_origins", mode="before")(_split_commas)
