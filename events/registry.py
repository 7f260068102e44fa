"""Registries of wire names: one for server events, one for client events, one for room prefixes.

The registries are what the bus dispatches on and what codegen reads, so a name
conflict is caught when the second class is defined, not when a message is lost.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Generic, TypeVar

from events.exceptions import InvalidNameError, NameConflictError

if TYPE_CHECKING:
    from collections.abc import Iterator

T = TypeVar("T", bound=type)

SOCKETIO_RESERVED_NAMES = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names socket.io-client and python-socketio use for their own lifecycle."""

_WIRE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_wire_name(name: str, *, owner: str) -> None:
    """Refuse names socket.io cannot carry cleanly or a TypeScript map cannot key.

    Example:
        >>> check_wire_name("chat.message", owner="ChatMessage")
    """
    if not _WIRE_NAME.fullmatch(name):
        raise InvalidNameError(
            f"{owner}: wire name {name!r} must start with a letter or '_' and contain only letters, "
            "digits, '_', '.' or '-' (at most 128 characters); pass name='...' to choose another"
        )


class Registry(Generic[T]):
    """Names to classes, refusing duplicates and reserved names at registration.

    Registering a class with the same module and qualified name as the one
    already registered replaces it: that is a module reload or a test that
    defines its classes inside a function, not a conflict.

    Example:
        >>> registry: Registry[type] = Registry("server event")
        >>> registry.register("message", int)
        >>> registry.get("message")
        <class 'int'>
    """

    def __init__(self, kind: str, *, reserved: frozenset[str] = SOCKETIO_RESERVED_NAMES) -> None:
        self.kind = kind
        self._reserved = reserved
        self._by_name: dict[str, T] = {}

    def register(self, name: str, cls: T) -> None:
        """Record ``cls`` under ``name``, raising `NameConflictError` naming both classes on a clash."""
        if name in self._reserved:
            raise NameConflictError(
                f"{_qualified(cls)}: {self.kind} name {name!r} is reserved by Socket.IO; "
                f"pass name='...' to choose another (reserved: {', '.join(sorted(self._reserved))})"
            )
        existing = self._by_name.get(name)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise NameConflictError(
                f"{self.kind} name {name!r} of {_qualified(cls)} is already used by {_qualified(existing)}; "
                "pass name='...' to one of them"
            )
        self._by_name[name] = cls

    def unregister(self, cls: T) -> None:
        """Forget ``cls`` (for tests and plugins that unload)."""
        for name, registered in list(self._by_name.items()):
            if registered is cls:
                del self._by_name[name]

    def get(self, name: str) -> T | None:
        """The class registered under ``name``, or ``None``."""
        return self._by_name.get(name)

    def items(self) -> list[tuple[str, T]]:
        """``(name, class)`` pairs sorted by name, so every consumer sees a stable order."""
        return sorted(self._by_name.items())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[T]:
        return iter(cls for _, cls in self.items())

    def __len__(self) -> int:
        return len(self._by_name)


server_events: Registry[type] = Registry("server event")
client_events: Registry[type] = Registry("client event")
rooms: Registry[type] = Registry("room prefix", reserved=frozenset())
