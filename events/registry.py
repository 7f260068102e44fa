"""Registries of wire names: one for server events, one for client events, one for room prefixes.

The registries are what the bus dispatches on and what codegen reads, so a name
conflict is caught when the second class is defined, not when a message is lost.
Names are scoped by application (a Socket.IO namespace): two applications may
each have a ``notice`` event or a ``chat`` room; a class bound to every
application (``app="*"``) conflicts with a name in any of them.
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

DEFAULT_APP = "/"
"""The application (Socket.IO namespace) of every class that names none."""

ANY_APP = "*"
"""``app="*"``: the class belongs to every application (the library's own events, the ``user:`` room)."""

_APP_PATH = re.compile(r"^/(?:[A-Za-z0-9_~-][A-Za-z0-9_.~-]*(?:/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)*)?$")


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


def check_app_path(path: str, *, owner: str) -> str:
    """Return ``path`` when it can name an application (a Socket.IO namespace), else raise `InvalidNameError`.

    Example:
        >>> check_app_path("/admin", owner="AdminAlert")
        '/admin'
    """
    if path == ANY_APP or (isinstance(path, str) and len(path) <= 128 and _APP_PATH.fullmatch(path)):
        return path
    raise InvalidNameError(
        f"{owner}: application path {path!r} must be '/' or '/name[/name...]' (letters, digits, '_', '-', '.', '~'; "
        "at most 128 characters), or '*' for every application"
    )


def app_of(cls: type) -> str:
    """The application a class is bound to: its ``app_path``, else the default ``/``."""
    path: str = getattr(cls, "app_path", DEFAULT_APP)
    return path


def _in_app(app: str) -> str:
    if app == ANY_APP:
        return " (bound to every application)"
    return "" if app == DEFAULT_APP else f" in application {app!r}"


class Registry(Generic[T]):
    """Names to classes, refusing duplicates and reserved names at registration.

    Each name is unique within one application. Registering a class with the
    same module and qualified name as the one already registered replaces it:
    that is a module reload or a test that defines its classes inside a
    function, not a conflict.

    Example:
        >>> registry: Registry[type] = Registry("server event")
        >>> registry.register("message", int)
        >>> registry.get("message")
        <class 'int'>
        >>> registry.register("message", str, app="/admin")  # another application: no conflict
        >>> registry.for_app("/admin")
        [('message', <class 'str'>)]
    """

    def __init__(self, kind: str, *, reserved: frozenset[str] = SOCKETIO_RESERVED_NAMES) -> None:
        self.kind = kind
        self._reserved = reserved
        self._by_name: dict[str, dict[str, T]] = {}

    def register(self, name: str, cls: T, *, app: str = DEFAULT_APP) -> None:
        """Record ``cls`` under ``name`` in ``app``, raising `NameConflictError` naming both classes on a clash."""
        if name in self._reserved:
            raise NameConflictError(
                f"{_qualified(cls)}: {self.kind} name {name!r} is reserved by Socket.IO; "
                f"pass name='...' to choose another (reserved: {', '.join(sorted(self._reserved))})"
            )
        scopes = self._by_name.setdefault(name, {})
        for other_app, existing in list(scopes.items()):
            if _qualified(existing) == _qualified(cls):
                del scopes[other_app]  # a reload may also have moved the class to another application
            elif ANY_APP in (app, other_app) or other_app == app:
                raise NameConflictError(
                    f"{self.kind} name {name!r} of {_qualified(cls)}{_in_app(app)} is already used by "
                    f"{_qualified(existing)}{_in_app(other_app)}; pass name='...' to one of them"
                )
        scopes[app] = cls

    def unregister(self, cls: T) -> None:
        """Forget ``cls`` (for tests and plugins that unload)."""
        for name, scopes in list(self._by_name.items()):
            for app, registered in list(scopes.items()):
                if registered is cls:
                    del scopes[app]
            if not scopes:
                del self._by_name[name]

    def get(self, name: str, app: str = DEFAULT_APP) -> T | None:
        """The class registered under ``name`` in ``app`` (or for every application), or ``None``."""
        scopes = self._by_name.get(name, {})
        return scopes.get(app) or scopes.get(ANY_APP)

    def items(self) -> list[tuple[str, T]]:
        """``(name, class)`` pairs of every application, sorted by name then application, for a stable order."""
        return [(name, cls) for name, _, cls in sorted(self._entries())]

    def for_app(self, path: str) -> list[tuple[str, T]]:
        """``(name, class)`` pairs a client of application ``path`` sees: its own and those of every application.

        Example:
            >>> "session_expired" in dict(server_events.for_app("/admin"))  # the library's events: every application
            True
        """
        return [(name, cls) for name, app, cls in sorted(self._entries()) if app in (path, ANY_APP)]

    def apps(self) -> list[str]:
        """The application paths classes are bound to (``*`` aside), sorted."""
        return sorted({app for _, app, _ in self._entries() if app != ANY_APP})

    def _entries(self) -> Iterator[tuple[str, str, T]]:
        return ((name, app, cls) for name, scopes in self._by_name.items() for app, cls in scopes.items())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[T]:
        return iter(cls for _, cls in self.items())

    def __len__(self) -> int:
        return sum(len(scopes) for scopes in self._by_name.values())


server_events: Registry[type] = Registry("server event")
client_events: Registry[type] = Registry("client event")
rooms: Registry[type] = Registry("room prefix", reserved=frozenset())


def app_paths() -> list[str]:
    """Every application some event, client event or room is bound to, ``/`` always included, sorted.

    Codegen iterates these and reads ``registry.for_app(path)`` of each registry.

    Example:
        >>> "/" in app_paths()
        True
    """
    return sorted({DEFAULT_APP, *server_events.apps(), *client_events.apps(), *rooms.apps()})
