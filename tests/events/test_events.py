"""The schema layer: wire names, registries, rooms and target resolution."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events import (
    ClientEvent,
    Event,
    InvalidNameError,
    InvalidTargetError,
    MissingTargetsError,
    NameConflictError,
    Room,
    Target,
    User,
    UserRoom,
)
from events._naming import derive_name
from events.registry import server_events
from events.rooms import key_problem, room_from_name
from events.targets import resolve_rooms, room_names


@pytest.mark.parametrize(
    ("class_name", "wire"),
    [
        ("MessageEvent", "message"),
        ("UserJoinedEvent", "user_joined"),
        ("Event", "event"),
        ("HTTPRequestEvent", "http_request"),
        ("Eventful", "eventful"),
        ("TeamEvent", "team"),  # rstrip("_event") would have eaten the "m" too
        ("Vent", "vent"),
    ],
)
def test_wire_name_strips_a_suffix_not_characters(class_name: str, wire: str) -> None:
    assert derive_name(class_name, "event") == wire


def test_event_name_class_attribute_and_override() -> None:
    class UserJoinedEvent(Event):
        user_id: str

    class Renamed(Event, name="chat.message"):
        pass

    assert UserJoinedEvent.event_name == "user_joined"
    assert Renamed.event_name == "chat.message"
    assert server_events.get("chat.message") is Renamed


def test_duplicate_name_names_both_classes() -> None:
    class First(Event, name="dup_test"):
        pass

    with pytest.raises(NameConflictError) as info:

        class Second(Event, name="dup_test"):
            pass

    assert "Second" in str(info.value)
    assert "First" in str(info.value)


@pytest.mark.parametrize("reserved", ["connect", "connect_error", "disconnect", "disconnecting", "newListener"])
def test_reserved_names_are_refused(reserved: str) -> None:
    with pytest.raises(NameConflictError, match=r"reserved by Socket\.IO"):

        class Lifecycle(Event, name=reserved):
            pass


def test_client_events_have_their_own_registry() -> None:
    class PingEvent(Event):
        pass

    class Ping(ClientEvent):  # same wire name, other direction: no conflict
        pass

    assert Ping.event_name == PingEvent.event_name == "ping"


def test_abstract_event_is_not_registered() -> None:
    class BaseChatEvent(Event, abstract=True):
        chat_id: str

    class ChatClosedEvent(BaseChatEvent):
        pass

    assert server_events.get("base_chat") is None
    assert server_events.get("chat_closed") is ChatClosedEvent


def test_invalid_wire_name_is_refused() -> None:
    with pytest.raises(InvalidNameError, match=r"wire name 'has space'"):

        class Spaced(Event, name="has space"):
            pass


def test_room_name_prefix_and_str() -> None:
    class DocumentRoom(Room):
        org: str
        doc: int

    room = DocumentRoom(org="acme", doc=7)
    assert DocumentRoom.prefix == "document"
    assert room.name == str(room) == "document:acme:7"
    assert room_from_name("document:acme:7") == room


def test_room_is_frozen_and_forbids_extra_keys() -> None:
    class TeamRoom(Room, prefix="team_frozen"):
        team_id: str

    room = TeamRoom(team_id="a")
    with pytest.raises(ValidationError):
        room.team_id = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        TeamRoom.model_validate({"team_id": "a", "other": 1})


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(InvalidNameError, match="room prefix 'Bad-Prefix'"):

        class BadRoom(Room, prefix="Bad-Prefix"):
            pass


async def test_can_join_denies_by_default_and_public_admits_authenticated() -> None:
    class ClosedRoom(Room):
        pass

    class OpenRoom(Room, public=True):
        pass

    alice = User(id="alice")
    assert ClosedRoom().can_join(alice) is False
    assert OpenRoom().can_join(alice) is True
    assert OpenRoom().can_join(None) is False
    assert UserRoom(user_id="alice").can_join(alice) is True
    assert UserRoom(user_id="bob").can_join(alice) is False


async def test_resolver_accepts_rooms_names_sync_and_async_and_deduplicates() -> None:
    class ShopRoom(Room):
        shop: str

    class SyncEvent(Event):
        def broadcast_to(self) -> list[Target]:
            return [ShopRoom(shop="1"), "audit:1", ShopRoom(shop="1"), "shop:1"]

    class AsyncEvent(Event):
        async def broadcast_to(self) -> Target:
            return ShopRoom(shop="2")

    assert await resolve_rooms(SyncEvent()) == ["shop:1", "audit:1"]
    assert await resolve_rooms(AsyncEvent()) == ["shop:2"]


async def test_event_without_targets_says_what_to_do() -> None:
    class Untargeted(Event):
        pass

    with pytest.raises(MissingTargetsError, match=r"defines no broadcast_to\(\).*emit_to_room"):
        await resolve_rooms(Untargeted())


@pytest.mark.parametrize("target", [42, None, b"room", "has space", "", "tab\there"])
def test_bad_targets_are_refused(target: object) -> None:
    with pytest.raises((InvalidTargetError, InvalidNameError)):
        room_names([target])  # type: ignore[list-item]


class KeyRoom(Room, prefix="keyroom"):
    a: str
    b: str


safe_keys = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"), blacklist_characters=":"
    ),
    min_size=1,
    max_size=128,
)


@settings(max_examples=200)
@given(a=safe_keys, b=safe_keys)
def test_room_names_round_trip(a: str, b: str) -> None:
    room = KeyRoom(a=a, b=b)
    assert room.name == f"keyroom:{a}:{b}"
    assert room_from_name(room.name) == room


@settings(max_examples=200)
@given(
    prefix=st.text(max_size=20),
    bad=st.sampled_from([":", " ", "\t", "\n", "\x00", "\x7f", "\u200b", "\u2028", "\x1b"]),
    suffix=st.text(max_size=20),
)
def test_keys_with_separators_or_control_characters_are_rejected(prefix: str, bad: str, suffix: str) -> None:
    with pytest.raises(ValidationError, match="KeyRoom key 'a' must not"):
        KeyRoom(a=prefix + bad + suffix, b="ok")


@settings(max_examples=100)
@given(size=st.integers(min_value=129, max_value=1000))
def test_overlong_and_empty_keys_are_rejected(size: int) -> None:
    assert key_problem("x" * size) == f"must be at most 128 characters (got {size})"
    assert key_problem("") == "must not be empty"


def test_base_classes_take_no_wire_name() -> None:
    from events.registry import client_events

    assert server_events.get("event") is None
    assert client_events.get("client") is None
