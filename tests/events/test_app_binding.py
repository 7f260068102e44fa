"""Binding events and rooms to applications: scoped registries, inheritance, and the listing codegen reads."""

from __future__ import annotations

import pytest

from events import (
    ANY_APP,
    ClientEvent,
    Event,
    InvalidNameError,
    NameConflictError,
    Room,
    SessionEndedEvent,
    SessionExpiredEvent,
    UserRoom,
    WrongApplicationError,
)
from events.registry import app_paths, client_events, rooms, server_events
from events.rooms import room_from_name
from events.targets import check_app, room_names


def test_default_application_and_inheritance() -> None:
    class PlainEvent(Event):
        pass

    class BillingEvent(Event, abstract=True, app="/billing"):
        pass

    class InvoicePaidEvent(BillingEvent):
        pass

    class RefundEvent(BillingEvent, app="/support"):  # a subclass may move to another application
        pass

    assert PlainEvent.app_path == "/"
    assert InvoicePaidEvent.app_path == "/billing"
    assert RefundEvent.app_path == "/support"
    assert server_events.get("invoice_paid", "/billing") is InvoicePaidEvent
    assert server_events.get("invoice_paid") is None
    assert "/billing" in app_paths()
    assert (SessionExpiredEvent.app_path, SessionEndedEvent.app_path, UserRoom.app_path) == (ANY_APP,) * 3


def test_the_same_name_in_two_applications_is_two_registrations() -> None:
    class ShopNotice(Event, name="scoped_notice", app="/shop"):
        pass

    class BackofficeNotice(Event, name="scoped_notice", app="/backoffice"):
        pass

    class ShopRoom(Room, prefix="scoped_room", app="/shop"):
        shop_id: str

    class BackofficeRoom(Room, prefix="scoped_room", app="/backoffice"):
        desk: int

    assert server_events.get("scoped_notice", "/shop") is ShopNotice
    assert server_events.get("scoped_notice", "/backoffice") is BackofficeNotice
    assert room_from_name("scoped_room:7", "/backoffice") == BackofficeRoom(desk=7)
    assert room_from_name("scoped_room:s1", "/shop") == ShopRoom(shop_id="s1")
    with pytest.raises(InvalidNameError, match="no room class is registered for prefix 'scoped_room' in application"):
        room_from_name("scoped_room:1", "/elsewhere")

    shop = dict(server_events.for_app("/shop"))
    assert shop["scoped_notice"] is ShopNotice
    assert shop["session_expired"] is SessionExpiredEvent  # the library's events belong to every application
    assert "scoped_notice" not in dict(server_events.for_app("/"))
    assert dict(rooms.for_app("/backoffice"))["user"] is UserRoom


def test_conflicts_within_an_application_and_with_every_application() -> None:
    class First(Event, name="scoped_dup", app="/one"):
        pass

    with pytest.raises(NameConflictError, match=r"'scoped_dup' of .*Second in application '/one' is already used by"):

        class Second(Event, name="scoped_dup", app="/one"):
            pass

    with pytest.raises(NameConflictError, match=r"bound to every application\) is already used by .*First"):

        class Everywhere(Event, name="scoped_dup", app=ANY_APP):
            pass

    class Shared(ClientEvent, name="scoped_shared", app=ANY_APP):
        pass

    with pytest.raises(NameConflictError, match="Shared"):

        class Local(ClientEvent, name="scoped_shared", app="/two"):
            pass

    assert client_events.get("scoped_shared", "/anywhere") is Shared


@pytest.mark.parametrize("path", ["admin", "/admin/", "/with space", "//double", "/" + "a" * 128, ""])
def test_invalid_application_paths(path: str) -> None:
    with pytest.raises(InvalidNameError, match="application path"):

        class Misplaced(Event, app=path):
            pass


def test_targets_bound_to_another_application_are_refused() -> None:
    class KitchenRoom(Room, prefix="scoped_kitchen", app="/kitchen"):
        pass

    assert room_names([KitchenRoom(), "free:text"], "/kitchen") == ["scoped_kitchen", "free:text"]
    assert room_names([UserRoom(user_id="1")], "/kitchen") == ["user:1"]
    with pytest.raises(WrongApplicationError, match="KitchenRoom belongs to application '/kitchen', not '/'"):
        room_names([KitchenRoom()], "/")
    assert room_names([KitchenRoom()]) == ["scoped_kitchen"]  # no application given: no check
    check_app(SessionEndedEvent, "/kitchen")
