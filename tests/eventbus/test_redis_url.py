"""Redis URLs: the schemes accepted, and the password never shown."""

from __future__ import annotations

import pytest

from eventbus import EventBus
from eventbus.exceptions import ConfigurationError
from eventbus.transport.cluster_recovery import ClusterRecoveryLog
from eventbus.transport.redis_url import check_url, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:hunter2@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("rediss://events:hunter2@redis.example.com:6380/0", "rediss://events:***@redis.example.com:6380/0"),
        ("redis://events@localhost/0", "redis://events:***@localhost/0"),
        ("redis://events:p%40ss:w@localhost/0", "redis://events:***@localhost/0"),
        ("unix:///run/redis.sock?db=1&password=hunter2", "unix:///run/redis.sock?db=1&password=***"),
        ("redis+sentinel://u:hunter2@h1:26379,h2:26379/0/main", "redis+sentinel://u:***@h1:26379,h2:26379/0/main"),
        (
            "rediss://h:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_password=hunter2",
            "rediss://h:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_password=***",
        ),
    ],
)
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://:hunter2@localhost:6379", ":hunter2@localhost:6379", "localhost:6379", "valkey://localhost"]
)
def test_other_schemes_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must start with one of redis://") as caught:
        check_url(url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("installed", ["5.0.8", "7.4.0"])
def test_a_cluster_url_is_refused_at_construction_when_redis_py_has_no_async_cluster_pubsub(
    installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The version is what is faked: the refusal must come from EventBus(...), before a server starts and its
    # listener fails in a loop on RedisCluster.pubsub (what `make test-lowest` showed under redis-py 5.0.8).
    monkeypatch.setattr("eventbus.transport.channel.version", lambda distribution: installed)
    with pytest.raises(ConfigurationError, match=rf"redis-py 8.0 or newer .* {installed} is installed: pip install"):
        EventBus(
            redis_url="redis+cluster://127.0.0.1:7000,127.0.0.1:7001/", redis_channel="refused", allow_anonymous=True
        )


@pytest.mark.parametrize("installed", ["8.0.0", "8.1.0"])
def test_a_cluster_url_is_accepted_from_redis_py_8(installed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("eventbus.transport.channel.version", lambda distribution: installed)
    bus = EventBus(
        redis_url="redis+cluster://127.0.0.1:7000,127.0.0.1:7001/", redis_channel="accepted", allow_anonymous=True
    )
    assert bus.settings.redis_url is not None
    assert bus.settings.redis_url.get_secret_value().startswith("redis+cluster://")


@pytest.mark.parametrize("channel", ["app{1}", "{app}", "app}"])
def test_a_cluster_refuses_a_channel_name_with_braces(channel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The keys of a room carry its partition channel as their hash tag: a brace in the name would move the tag.
    monkeypatch.setattr("eventbus.transport.channel.version", lambda distribution: "8.1.0")
    with pytest.raises(ConfigurationError, match=r"must not contain '\{' or '\}'"):
        EventBus(redis_url="redis+cluster://127.0.0.1:7000/", redis_channel=channel, allow_anonymous=True)
    assert EventBus(redis_url="redis://127.0.0.1:6379/0", redis_channel=channel, allow_anonymous=True)


def test_a_cluster_with_recovery_keeps_one_stream_per_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("eventbus.transport.channel.version", lambda distribution: "8.1.0")
    bus = EventBus(
        redis_url="redis+cluster://127.0.0.1:7000/", redis_channel="app", recovery_window=60, allow_anonymous=True
    )
    log = bus.sio.manager.recovery
    assert isinstance(log, ClusterRecoveryLog)
    # Each channel's keys carry the channel as hash tag: in its slot, where the channel is SPUBLISHed.
    assert log.keys("app#7") == (
        "app:recovery:{app#7}:stream",
        "app:recovery:{app#7}:epoch",
        "app:recovery:{app#7}:cut",
    )
    assert (log.channel_of("chat:42"), log.channel_of("Kq3x9w0AAAB")) == (
        bus.sio.manager.partitions.of("chat:42"),
        "app",
    )
