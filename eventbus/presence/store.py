"""Where presence lives: per room, per user, the set of that user's connections there.

`PresenceStore` is the contract (its one-line docstrings are the spec, and
``tests/eventbus/test_presence_store.py`` runs one suite over every store);
`MemoryPresenceStore` serves one process; `eventbus.presence.redis_store.RedisPresenceStore`
serves many sharing a Redis.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from types import TracebackType

    from events.presence import PresenceMember

Reaped: TypeAlias = Callable[[str, "PresenceMember"], Awaitable[None]]
"""``(room, member)``: called once for each member whose last connection was on a dead process."""


class PresenceStore(ABC):
    """Connections of users in presence rooms; decides atomically who arrived first and who left last.

    A store is shared by every process of an application (Redis) or private to
    one (memory); ``sid`` is a Socket.IO id of this process, which the store
    qualifies with its node id where several processes share it.

    Example:
        >>> from events import PresenceMember
        >>> async def main() -> None:
        ...     async with MemoryPresenceStore() as store:
        ...         print(await store.add("chat:42", PresenceMember(user_id="alice"), "sid1"))  # alice arrives
        ...         print(await store.add("chat:42", PresenceMember(user_id="alice"), "sid2"))  # her second tab
        >>> asyncio.run(main())
        True
        False
    """

    async def start(self, on_reaped: Reaped | None = None) -> None:  # noqa: B027 - optional, not abstract
        """Begin background work (heartbeat, reaper); ``on_reaped`` hears of members lost with a dead process."""

    async def stop(self) -> None:  # noqa: B027 - optional, not abstract
        """End background work and close connections; safe to call twice."""

    @abstractmethod
    async def add(self, room: str, member: PresenceMember, sid: str) -> bool:
        """Record connection ``sid`` of ``member`` in ``room``; ``True`` when it is the user's first there."""

    @abstractmethod
    async def remove(self, room: str, user_id: str, sid: str) -> PresenceMember | None:
        """Forget connection ``sid``; the member when it was the user's last in ``room``, else ``None``."""

    @abstractmethod
    async def members(self, room: str) -> list[PresenceMember]:
        """Everyone in ``room`` (on every process), once per user, sorted by user id."""

    async def __aenter__(self) -> PresenceStore:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class MemoryPresenceStore(PresenceStore):
    """One process, in memory: no awaits inside an operation, so each is atomic on the event loop.

    Example:
        >>> bus = EventBus(auth=auth, rooms=[DocRoom], presence_store=MemoryPresenceStore())
    """

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, tuple[PresenceMember, set[str]]]] = {}

    async def add(self, room: str, member: PresenceMember, sid: str) -> bool:
        users = self._rooms.setdefault(room, {})
        entry = users.get(member.user_id)
        if entry is None:
            users[member.user_id] = (member, {sid})
            return True
        entry[1].add(sid)
        return False

    async def remove(self, room: str, user_id: str, sid: str) -> PresenceMember | None:
        users = self._rooms.get(room, {})
        entry = users.get(user_id)
        if entry is None or sid not in entry[1]:
            return None
        entry[1].discard(sid)
        if entry[1]:
            return None
        del users[user_id]
        if not users:
            del self._rooms[room]
        return entry[0]

    async def members(self, room: str) -> list[PresenceMember]:
        return [member for _, (member, _sids) in sorted(self._rooms.get(room, {}).items())]
