"""Who is connected to an application on this process: the table behind ``connections()`` and ``is_online()``.

python-socketio knows sids and rooms but not users, and its manager answers
"who is in this room" only by scanning; the table keeps the user of each sid
and the sids of each user, so the common questions are dictionary lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events import User


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One Socket.IO connection as this process sees it.

    ``rooms`` is every room the connection is in but its own sid room (its
    ``user:`` room included); ``transport`` is ``"websocket"`` or
    ``"polling"`` (``"closed"`` while it is being torn down).

    Example:
        >>> async def main() -> None:
        ...     async with serve(bus.asgi_app()) as url:  # serve and SocketTestClient: eventbus.testing
        ...         alice = await SocketTestClient(url, token=token("alice")).connect()
        ...         await alice.call("join_chat", {"chat_id": "42"})
        ...         print([(c.app, c.user_id, c.transport, c.rooms) for c in bus.connections("alice")])
        ...         await alice.close()
        >>> asyncio.run(main())
        [('/', 'alice', 'websocket', ['chat:42', 'user:alice'])]
    """

    sid: str
    user_id: str | None
    app: str
    connected_at: datetime
    rooms: list[str] = field(default_factory=list)
    transport: str = "websocket"


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User | None
    connected_at: datetime


class ConnectionTable:
    """The connections of one application on this process, indexed by sid and by user id."""

    def __init__(self) -> None:
        self._by_sid: dict[str, _Entry] = {}
        self._by_user: dict[str, dict[str, None]] = {}  # a dict as an ordered set: sids in connection order

    def add(self, sid: str, user: User | None) -> None:
        """Record a connection that passed authentication."""
        self._by_sid[sid] = _Entry(user, datetime.now(UTC))
        if user is not None:
            self._by_user.setdefault(user.id, {})[sid] = None

    def remove(self, sid: str) -> None:
        """Forget a connection (disconnects of every kind end here); unknown sids are ignored."""
        entry = self._by_sid.pop(sid, None)
        if entry is None or entry.user is None:
            return
        sids = self._by_user.get(entry.user.id)
        if sids is not None:
            sids.pop(sid, None)
            if not sids:
                del self._by_user[entry.user.id]

    def user(self, sid: str) -> User | None:
        """The user of ``sid``, ``None`` when anonymous or not connected here."""
        entry = self._by_sid.get(sid)
        return entry.user if entry is not None else None

    def connected_at(self, sid: str) -> datetime:
        """When ``sid`` connected; ``KeyError`` when it is not connected here."""
        return self._by_sid[sid].connected_at

    def sids(self, user_id: str | None = None) -> list[str]:
        """Every sid, or those of one user, in connection order."""
        return list(self._by_sid if user_id is None else self._by_user.get(user_id, {}))

    def count(self, user_id: str) -> int:
        """How many connections ``user_id`` has here."""
        return len(self._by_user.get(user_id, ()))

    def user_count(self) -> int:
        """How many distinct users have a connection here."""
        return len(self._by_user)

    def has_user(self, user_id: str) -> bool:
        """Whether ``user_id`` has at least one connection here."""
        return user_id in self._by_user

    def __contains__(self, sid: object) -> bool:
        return sid in self._by_sid

    def __len__(self) -> int:
        return len(self._by_sid)
