"""A second and a third application beside ``tests.sample`` (the application ``/``), reusing its names on purpose.

``/admin`` has its own ``chat`` room and ``message`` event, so a room named
``chat:42`` and an event named ``message`` exist in two applications at once.
``/status`` is a public feed that anonymous clients may read.
"""

from __future__ import annotations

from events import ClientEvent, Event, Room, Target, User

ADMIN = "/admin"
STATUS = "/status"


class AdminChatRoom(Room, prefix="chat", app=ADMIN):
    chat_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.claims.get("role") == "admin"


class OpsRoom(Room, prefix="ops", app=ADMIN, public=True):
    pass


class AdminEvent(Event, abstract=True, app=ADMIN):
    """Every event of the admin console: the family inherits the application."""


class AdminMessageEvent(AdminEvent, name="message"):
    chat_id: str
    text: str

    def broadcast_to(self) -> list[Target]:
        return [AdminChatRoom(chat_id=self.chat_id)]


class AdminNoticeEvent(AdminEvent, name="notice"):
    text: str


class Escalate(ClientEvent, app=ADMIN):
    text: str


class StatusEvent(Event, app=STATUS):
    state: str

    def broadcast_to(self) -> list[Target]:
        return [StatusFeedRoom()]


class StatusFeedRoom(Room, prefix="feed", app=STATUS):
    def can_join(self, user: User | None) -> bool:
        return True  # a public feed: anonymous readers included


class EverywhereEvent(Event, app="*"):
    """An event every application may send (maintenance windows, say)."""

    text: str
