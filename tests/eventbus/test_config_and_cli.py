"""Settings from the environment, the default bus, auth configuration and the ``eventbus`` command."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_encode

import eventbus
from eventbus import (
    AuthenticationError,
    ConfigurationError,
    EventBus,
    EventBusSettings,
    JWTAuth,
    NoDefaultBusError,
    broadcast,
)
from eventbus.auth import bearer_token
from eventbus.cli import main as cli_main
from tests.clients import PyClient
from tests.conftest import SECRET
from tests.sample import BoardRoom, NoticeEvent

Serve = Callable[[Any], Awaitable[str]]
Connect = Callable[..., Awaitable[PyClient]]
Token = Callable[..., str]


async def test_broadcast_without_a_bus_is_a_clear_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="create an EventBus or Emitter first") as info:
        await broadcast(NoticeEvent(text="x"))
    assert isinstance(info.value, NoDefaultBusError)


def test_first_bus_is_the_default_and_set_default_changes_it() -> None:
    first = EventBus(allow_anonymous=True)
    second = EventBus(allow_anonymous=True)
    assert eventbus.get_default() is first
    eventbus.set_default(second)
    assert eventbus.get_default() is second


def test_bus_without_auth_must_say_anonymous_is_intended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTBUS_JWT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="allow_anonymous=True"):
        EventBus()


def test_jwt_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_JWT_SECRET", SECRET)
    monkeypatch.setenv("EVENTBUS_JWT_ALGORITHMS", "HS256,HS512")
    monkeypatch.setenv("EVENTBUS_JWT_AUDIENCE", "chat")
    monkeypatch.setenv("EVENTBUS_JWT_LEEWAY", "5")
    bus = EventBus()
    assert isinstance(bus.auth, JWTAuth)
    assert bus.auth.algorithms == ["HS256", "HS512"]
    token = jwt.encode({"sub": "7", "aud": "chat", "exp": int(time.time()) - 2}, SECRET, algorithm="HS512")
    assert bus.auth.verify(token).id == "7"  # expired 2 s ago, inside the 5 s leeway
    with pytest.raises(AuthenticationError, match=r"Audience doesn.t match"):
        bus.auth.verify(jwt.encode({"sub": "7", "aud": "other", "exp": int(time.time()) + 60}, SECRET))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": SECRET, "algorithms": []}, "at least one algorithm"),
        ({"secret": SECRET, "algorithms": ["none"]}, "'none' never is"),
        ({"algorithms": ["HS256"]}, "needs secret="),
        ({"secret": SECRET, "algorithms": ["RS256"]}, "needs public_key="),
    ],
)
def test_jwt_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        JWTAuth(**kwargs)  # type: ignore[arg-type]


def test_asymmetric_tokens_verify_with_the_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    auth = JWTAuth(public_key=public_pem, algorithms=["ES256"], issuer="https://id.example.test")
    token = jwt.encode(
        {"sub": "u1", "iss": "https://id.example.test", "exp": int(time.time()) + 60}, private, algorithm="ES256"
    )
    assert auth.verify(token).id == "u1"
    # The classic key-confusion attack: HS256 signed with the public key. pyjwt refuses to build one, so by hand.
    signing_input = ".".join(
        base64url_encode(json.dumps(part).encode()).decode()
        for part in ({"alg": "HS256", "typ": "JWT"}, {"sub": "u1", "exp": int(time.time()) + 60})
    )
    signature = base64url_encode(hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(AuthenticationError, match="algorithm 'HS256' is not one of"):
        auth.verify(f"{signing_input}.{signature.decode()}")


def test_integer_user_id_claim_becomes_a_string_user_id() -> None:
    auth = JWTAuth(secret=SECRET, user_id_claim="uid")
    assert auth.verify(jwt.encode({"uid": 42, "exp": int(time.time()) + 60}, SECRET)).id == "42"
    with pytest.raises(AuthenticationError, match="'uid' is missing"):
        auth.verify(jwt.encode({"uid": True, "exp": int(time.time()) + 60}, SECRET))


def test_token_sources_in_order() -> None:
    environ = {"HTTP_AUTHORIZATION": "Bearer from-header", "HTTP_COOKIE": "session=1; eb_token=from-cookie"}
    assert bearer_token({"token": "from-auth"}, environ, "eb_token") == "from-auth"
    assert bearer_token({}, environ, "eb_token") == "from-header"
    assert bearer_token(None, {"HTTP_COOKIE": environ["HTTP_COOKIE"]}, "eb_token") == "from-cookie"
    assert bearer_token(None, {"HTTP_COOKIE": environ["HTTP_COOKIE"]}, None) is None
    assert bearer_token({"token": 5}, {"HTTP_AUTHORIZATION": "Basic abc"}) is None


def test_cli_token_mints_a_verifiable_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTBUS_JWT_SECRET", SECRET)
    assert cli_main(["token", "--user", "alice", "--ttl", "120", "--claim", "role=admin"]) == 0
    token = capsys.readouterr().out.strip()
    user = JWTAuth(secret=SECRET).verify(token)
    assert user.id == "alice"
    assert user.claims["role"] == "admin"
    assert 110 <= user.claims["exp"] - time.time() <= 121


def test_console_script_is_installed_and_refuses_without_secret() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    script = f"{sys.prefix}/bin/eventbus"
    result = subprocess.run([script, "token", "--user", "alice"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 2
    assert "set EVENTBUS_JWT_SECRET or pass --secret" in result.stderr
    ok = subprocess.run(
        [script, "token", "--user", "bob", "--secret", SECRET], capture_output=True, text=True, env=env, check=True
    )
    assert JWTAuth(secret=SECRET).verify(ok.stdout.strip()).id == "bob"


def test_every_setting_can_be_passed_to_the_bus_and_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, jwt_auth: JWTAuth
) -> None:
    monkeypatch.setenv("EVENTBUS_RATE_LIMIT", "7")
    monkeypatch.setenv("EVENTBUS_MAX_ROOMS", "9")
    bus = EventBus(auth=jwt_auth, max_rooms=2)
    assert (bus.settings.rate_limit, bus.settings.max_rooms) == (7, 2)
    assert bus.default_app.max_rooms == 2
    from_object = EventBus(auth=jwt_auth, settings=EventBusSettings(rate_limit=5), max_rooms=3)
    assert (from_object.settings.rate_limit, from_object.settings.max_rooms) == (5, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_room": 2}, "unknown option 'max_room' (did you mean 'max_rooms'?)"),
        ({"async_handlers": False}, "python-socketio's own go in socketio_options"),
    ],
)
def test_an_unknown_bus_option_is_refused(jwt_auth: JWTAuth, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        EventBus(auth=jwt_auth, **kwargs)


def test_a_bus_option_of_the_wrong_type_is_a_validation_error(jwt_auth: JWTAuth) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        EventBus(auth=jwt_auth, rate_limit=-1)


def test_socketio_options_reach_the_server(jwt_auth: JWTAuth) -> None:
    bus = EventBus(auth=jwt_auth, ping_interval=3, socketio_options={"ping_interval": 4, "always_connect": True})
    assert (bus.sio.eio.ping_interval, bus.sio.always_connect) == (4, True)


async def test_rooms_limit_passed_to_the_bus_holds_over_the_wire(
    jwt_auth: JWTAuth, serve: Serve, py_client: Connect, token: Token
) -> None:
    bus = EventBus(auth=jwt_auth, rooms=[BoardRoom], max_rooms=2)
    alice = await py_client(await serve(bus.asgi_app()), token=token("alice", org="acme"))
    joins = [await alice.call("join_board", {"org": "acme", "board": n}) for n in range(3)]
    assert [join["ok"] for join in joins] == [True, True, False]
    refused = joins[2]
    assert refused["error"]["code"] == "too_many_rooms"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "token" in out
    assert "codegen" in out
    assert cli_main([]) == 2
