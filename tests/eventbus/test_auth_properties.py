"""Auth properties over the wire: any valid token connects into its user room; any bad token is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus, JWTAuth
from tests.clients import PyClient, connect_error
from tests.conftest import SECRET
from tests.sample import NoticeEvent
from tests.servers import ThreadedServer

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

user_ids = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"), blacklist_characters=":"
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EventBus, ThreadedServer]]:
    bus = EventBus(auth=JWTAuth(secret=SECRET, algorithms=["HS256"]))
    with ThreadedServer(bus.asgi_app()) as running:
        yield bus, running


def _claims(user: str, **extra: Any) -> dict[str, Any]:
    return {"sub": user, "exp": int(time.time()) + 600, **extra}


@PROPERTY
@given(user=user_ids, transport=st.sampled_from(["websocket", "polling"]))
def test_valid_token_joins_its_user_room(server: tuple[EventBus, ThreadedServer], user: str, transport: str) -> None:
    bus, running = server
    token = jwt.encode(_claims(user), SECRET, algorithm="HS256")

    async def scenario() -> list[Any]:
        client = await PyClient(running.url, token=token, transports=[transport]).connect()
        try:
            # The server's loop does the sending, as an application would.
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(bus.emit_to_user(user, NoticeEvent(text=user)), running.loop)
            )
            return await client.inbox.wait_for("notice")
        finally:
            await client.close()

    assert asyncio.run(scenario()) == [{"text": user}]


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def _tamper(token: str, index: int) -> str:
    position = index % len(token)
    replacement = "A" if token[position] != "A" else "B"
    return token[:position] + replacement + token[position + 1 :]


@st.composite
def bad_tokens(draw: st.DrawFn) -> str:
    user = draw(user_ids)
    kind = draw(
        st.sampled_from(
            [
                "garbage",
                "expired",
                "wrong_key",
                "wrong_alg",
                "rsa_alg",
                "none",
                "no_exp",
                "tampered",
                "no_sub",
                "bad_sub",
            ]
        )
    )
    now = int(time.time())
    if kind == "garbage":
        return draw(st.text(min_size=1, max_size=200))
    if kind == "expired":
        return jwt.encode({"sub": user, "exp": now - draw(st.integers(1, 10**6))}, SECRET, algorithm="HS256")
    if kind == "wrong_key":
        return jwt.encode(_claims(user), draw(st.text(min_size=32, max_size=64)).encode() + b"!", algorithm="HS256")
    if kind == "wrong_alg":
        return jwt.encode(_claims(user), SECRET, algorithm=draw(st.sampled_from(["HS384", "HS512"])))
    if kind == "rsa_alg":
        return jwt.encode(_claims(user), RSA_PEM, algorithm="RS256")
    if kind == "none":
        return jwt.encode(_claims(user), None, algorithm="none")
    if kind == "no_exp":
        return jwt.encode({"sub": user}, SECRET, algorithm="HS256")
    if kind == "tampered":
        token = jwt.encode(_claims(user), SECRET, algorithm="HS256")
        tampered = _tamper(token, draw(st.integers(0, 10_000)))
        # Flipping the last base64 character can leave the decoded bytes unchanged; that is no tampering.
        if (
            jwt.api_jws.base64url_decode(tampered.split(".")[-1] + "==")
            == jwt.api_jws.base64url_decode(token.split(".")[-1] + "==")
            and tampered.rsplit(".", 1)[0] == token.rsplit(".", 1)[0]
        ):
            return "not.a.token"
        return tampered
    if kind == "no_sub":
        return jwt.encode({"exp": now + 600}, SECRET, algorithm="HS256")
    return jwt.encode(_claims(user + ":admin"), SECRET, algorithm="HS256")


@PROPERTY
@given(token=bad_tokens(), transport=st.sampled_from(["websocket", "polling"]))
def test_bad_token_is_refused(server: tuple[EventBus, ThreadedServer], token: str, transport: str) -> None:
    _, running = server
    assert asyncio.run(connect_error(running.url, auth={"token": token}, transports=[transport])) == {
        "message": "unauthorized"
    }
