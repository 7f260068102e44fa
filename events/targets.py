"""Turning an event's targets into the de-duplicated list of room names it is emitted to."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from events.exceptions import InvalidTargetError
from events.rooms import Room, check_room_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from events.base import Event, Target, Targets


def room_name(target: Target) -> str:
    """The room name of one target.

    Example:
        >>> room_name("lobby")
        'lobby'
    """
    if isinstance(target, Room):
        return target.name
    if isinstance(target, str):
        return check_room_name(target)
    raise InvalidTargetError(f"a target must be a Room or a room-name str (got {type(target).__name__}: {target!r})")


def room_names(targets: Targets) -> list[str]:
    """Room names of ``targets`` in first-seen order, each once.

    Example:
        >>> room_names(["a", "b", "a"])
        ['a', 'b']
    """
    items: Iterable[Target] = [targets] if isinstance(targets, (Room, str)) else targets
    return list(dict.fromkeys(room_name(target) for target in items))


async def resolve_rooms(event: Event) -> list[str]:
    """Call ``event.broadcast_to()`` (awaiting it when async) and return its room names.

    Example:
        >>> import asyncio
        >>> class Ping(Event):
        ...     def broadcast_to(self) -> list[Target]:
        ...         return ["lobby", "lobby"]
        >>> asyncio.run(resolve_rooms(Ping()))
        ['lobby']
    """
    targets = event.broadcast_to()
    if inspect.isawaitable(targets):
        targets = await targets
    return room_names(targets)
