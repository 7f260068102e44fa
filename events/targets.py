"""Turning an event's targets into the de-duplicated list of room names it is emitted to."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from events.exceptions import InvalidTargetError, WrongApplicationError
from events.registry import ANY_APP, app_of
from events.rooms import Room, check_room_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from events.base import Event, Target, Targets


def check_app(cls: type, app: str) -> None:
    """Raise `WrongApplicationError` unless ``cls`` (an event or room class) may be used in application ``app``.

    Example:
        >>> from events import UserRoom
        >>> check_app(UserRoom, "/admin")  # bound to every application
    """
    bound = app_of(cls)
    if bound != app and bound != ANY_APP:
        raise WrongApplicationError(
            f"{cls.__name__} belongs to application {bound!r}, not {app!r}: use bus.apps[{bound!r}] "
            f"(module-level broadcast() picks the event's own application), or declare it with app={app!r}"
        )


def room_name(target: Target, app: str | None = None) -> str:
    """The room name of one target; with ``app``, a `Room` bound to another application is refused.

    Example:
        >>> room_name("lobby")
        'lobby'
    """
    if isinstance(target, Room):
        if app is not None:
            check_app(type(target), app)
        return target.name
    if isinstance(target, str):
        return check_room_name(target)
    raise InvalidTargetError(f"a target must be a Room or a room-name str (got {type(target).__name__}: {target!r})")


def room_names(targets: Targets, app: str | None = None) -> list[str]:
    """Room names of ``targets`` in first-seen order, each once (``app`` as in `room_name`).

    Example:
        >>> room_names(["a", "b", "a"])
        ['a', 'b']
    """
    items: Iterable[Target] = [targets] if isinstance(targets, (Room, str)) else targets
    return list(dict.fromkeys(room_name(target, app) for target in items))


async def resolve_rooms(event: Event, app: str | None = None) -> list[str]:
    """Call ``event.broadcast_to()`` (awaiting it when async) and return its room names (``app`` as in `room_name`).

    Example:
        >>> import asyncio
        >>> from events import Event, Target
        >>> class Ping(Event):
        ...     def broadcast_to(self) -> list[Target]:
        ...         return ["lobby", "lobby"]
        >>> asyncio.run(resolve_rooms(Ping()))
        ['lobby']
    """
    targets = event.broadcast_to()
    if inspect.isawaitable(targets):
        targets = await targets
    return room_names(targets, app)
