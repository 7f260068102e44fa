"""`Host`: what the inbound handlers and presence need from the application they serve.

`eventbus.Application` implements it. Handlers, joins and presence depend on this
base rather than on the application, so the application can build them without
an import cycle.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from eventbus.observability.recorder import NO_RECORDER, Recorder
from eventbus.sending import Sender

if TYPE_CHECKING:
    from events import Event, PresenceMember, Room, Target, User
    from events.history import HistoryList, StreamPosition


class Host(Sender):
    """An application as its handlers see it: the sending API plus the connection's user, rooms and limits."""

    max_rooms: int
    namespace: str
    recorder: Recorder = NO_RECORDER

    @abstractmethod
    async def get_user(self, sid: str) -> User | None:
        """The user a connection authenticated as, ``None`` when anonymous or unknown."""

    @abstractmethod
    def joined_rooms(self, sid: str) -> list[str]:
        """Rooms this process has ``sid`` in, apart from its own sid room and its ``user:`` room."""

    @abstractmethod
    def rate_limited(self, sid: str, event: str) -> dict[str, object] | None:
        """Spend one token of ``sid``'s bucket; the ``rate_limited`` ack when it is empty."""

    @abstractmethod
    async def emit_to_sid(self, sid: str, event: Event | str, data: Any = None) -> None:
        """Send to one connection."""

    @abstractmethod
    async def join_room(self, sid: str, room: Target) -> None:
        """Put a connection in a room, without asking ``can_join``."""

    @abstractmethod
    async def leave_room(self, sid: str, room: Target) -> None:
        """Take a connection out of a room."""

    @abstractmethod
    async def join_history(self, sid: str, room: Room, since: StreamPosition | None) -> dict[str, object]:
        """Enter a history room (``can_join`` already asked), with the events after ``since``: the join ack."""

    @abstractmethod
    async def history(self, room: Room, limit: int) -> HistoryList:
        """The last ``limit`` events of a history room and its position."""

    @abstractmethod
    async def presence(self, room: Target) -> list[PresenceMember]:
        """Who is in a ``presence=True`` room, once per user."""
