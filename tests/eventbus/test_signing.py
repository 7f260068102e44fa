"""Signed channel messages: what a holder of the key can send, and every way a message is refused."""

from __future__ import annotations

import json

import pytest

from eventbus.exceptions import ConfigurationError, SignatureError
from eventbus.transport.signing import Signer, looks_signed

KEY = "a-shared-key-of-some-length-0123"
MESSAGE = {"method": "enter_room", "sid": "abc", "room": "vault:1", "namespace": "/", "host_id": "h"}


def test_round_trip_and_wire_format() -> None:
    signer = Signer(KEY, channel="eventbus")
    wire = signer.sign(MESSAGE)
    assert looks_signed(wire)
    assert looks_signed(wire.encode())
    assert Signer(KEY, channel="eventbus").verify(wire.encode()) == MESSAGE


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (json.dumps(MESSAGE), "not signed"),
        (b"\xff\xfe", "not UTF-8"),
        ("eb1." + "0" * 64 + "." + json.dumps({"ts": 0, "nonce": "n", "msg": MESSAGE}), "signature does not match"),
        ("eb1.", "signature does not match"),
    ],
    ids=["unsigned", "binary", "forged-mac", "empty"],
)
def test_unsigned_and_forged_messages_are_refused(raw: str | bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        Signer(KEY, channel="eventbus").verify(raw)


def test_tampered_body_other_key_and_other_channel_are_refused() -> None:
    wire = Signer(KEY, channel="eventbus").sign(MESSAGE)
    tampered = wire.replace("vault:1", "vault:2")
    for signer, raw in [
        (Signer(KEY, channel="eventbus"), tampered),
        (Signer(KEY + "x", channel="eventbus"), wire),
        (Signer(KEY, channel="other-app"), wire),
    ]:
        with pytest.raises(SignatureError, match="signature does not match"):
            signer.verify(raw)


def test_replay_is_refused_inside_the_window_and_stale_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sender, receiver = Signer(KEY, channel="c"), Signer(KEY, channel="c", max_age=30)
    wire = sender.sign(MESSAGE)
    receiver.verify(wire)
    with pytest.raises(SignatureError, match="replayed"):
        receiver.verify(wire)
    import eventbus.transport.signing

    now = eventbus.transport.signing.time.time()
    monkeypatch.setattr(eventbus.transport.signing.time, "time", lambda: now + 31)
    with pytest.raises(SignatureError, match="outside the 30s window"):
        Signer(KEY, channel="c", max_age=30).verify(wire)


def test_remembered_nonces_expire() -> None:
    receiver = Signer(KEY, channel="c", max_age=0.01)
    sender = Signer(KEY, channel="c")
    receiver.verify(sender.sign(MESSAGE))
    import time

    time.sleep(0.03)
    receiver.verify(sender.sign(MESSAGE))
    assert len(receiver._seen) == 1


def test_short_key_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=r"at least 16 characters.*secrets\.token_urlsafe"):
        Signer("short", channel="c")
