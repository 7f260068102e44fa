"""Rooms as typed, validated names: ``ChatRoom(chat_id="42")`` is the room ``chat:42``."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from events import registry
from events._naming import derive_name
from events.exceptions import InvalidNameError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from events.users import User

MAX_KEY_LENGTH = 128
MAX_ROOM_NAME_LENGTH = 512
_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def _has_blank_or_control(text: str) -> bool:
    # Category C covers control, format (zero-width), surrogate, private-use and unassigned code points.
    return any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text)


def key_problem(text: str) -> str | None:
    """Why ``text`` cannot be one segment of a room name, or ``None`` when it can.

    Example:
        >>> key_problem("a:b")
        "must not contain ':'"
    """
    if not text:
        return "must not be empty"
    if len(text) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters (got {len(text)})"
    if ":" in text:
        return "must not contain ':'"
    if _has_blank_or_control(text):
        return "must not contain whitespace or control characters"
    return None


def _valid_key(value: str) -> str:
    problem = key_problem(value)
    if problem is not None:
        raise ValueError(f"room key {problem} (got {value[:40]!r})")
    return value


RoomKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH), AfterValidator(_valid_key)]
"""A ``str`` field that is later used as a room key (``chat_id: RoomKey`` on a `ClientEvent`): validated on arrival."""


def check_room_name(name: str) -> str:
    """Validate a room name given as a plain string (the untyped escape hatch) and return it.

    Example:
        >>> check_room_name("business_monitoring:7")
        'business_monitoring:7'
    """
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"a room name must be a non-empty str (got {name!r})")
    if len(name) > MAX_ROOM_NAME_LENGTH:
        raise InvalidNameError(f"room name must be at most {MAX_ROOM_NAME_LENGTH} characters (got {len(name)})")
    if _has_blank_or_control(name):
        raise InvalidNameError(f"room name must not contain whitespace or control characters (got {name[:64]!r})")
    return name


DEFAULT_HISTORY_TTL = 600.0
"""Seconds a room's history outlives its last event when the class gives ``history`` but no ``history_ttl``."""


def _history_options(owner: str, history: Any, ttl: Any) -> tuple[int, float]:
    if not isinstance(history, int) or isinstance(history, bool) or history < 0:
        raise ValueError(f"{owner}: history must be a number of events >= 0 (got {history!r})")
    if ttl is None:
        return history, DEFAULT_HISTORY_TTL if history else 0.0
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0:
        raise ValueError(f"{owner}: history_ttl must be a number of seconds > 0 (got {ttl!r})")
    return history, float(ttl)


def _key_text(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Room(BaseModel):
    """A room whose name is built from its prefix and key fields, in field order.

    Subclass it with the prefix (default: the class name in snake_case minus
    ``_room``) and the key fields. Key values are checked so that no payload
    can name another room. ``can_join`` denies by default; ``public=True``
    lets any authenticated user in. ``app="/admin"`` binds the room to an
    application (default ``/``): only that application's clients can join it.
    ``history=N`` keeps the room's last ``N`` events for ``history_ttl``
    seconds (default 600) after the last one, with stream positions (see
    ``events.history``).

    Example:
        >>> class ChatRoom(Room, prefix="chat"):
        ...     chat_id: str
        >>> str(ChatRoom(chat_id="42"))
        'chat:42'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: ClassVar[str] = "room"
    public: ClassVar[bool] = False
    presence: ClassVar[bool] = False
    history: ClassVar[int] = 0
    history_ttl: ClassVar[float] = 0
    app_path: ClassVar[str] = registry.DEFAULT_APP

    def __init_subclass__(
        cls,
        *,
        prefix: str | None = None,
        public: bool | None = None,
        presence: bool | None = None,
        app: str | None = None,
        history: int | None = None,
        history_ttl: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.prefix = prefix if prefix is not None else derive_name(cls.__name__, "room")
        if public is not None:
            cls.public = public
        if presence is not None:
            cls.presence = presence
        if app is not None:
            cls.app_path = registry.check_app_path(app, owner=cls.__qualname__)
        if history is not None or history_ttl is not None:
            cls.history, cls.history_ttl = _history_options(cls.__qualname__, history, history_ttl)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not _PREFIX.fullmatch(cls.prefix):
            raise InvalidNameError(
                f"{cls.__name__}: room prefix {cls.prefix!r} must be lower-case letters, digits or '_' "
                "(at most 64, not starting with a digit), since it also names the join_<prefix> event"
            )
        registry.rooms.register(cls.prefix, cls, app=cls.app_path)

    @field_validator("*", mode="after")
    @classmethod
    def _check_key(cls, value: Any, info: ValidationInfo) -> Any:
        problem = key_problem(_key_text(value))
        if problem is not None:
            shown = _key_text(value)[:40]
            raise ValueError(f"{cls.__name__} key {info.field_name!r} {problem} (got {shown!r})")
        return value

    @property
    def name(self) -> str:
        """The wire name of this room, ``prefix:key[:key...]``."""
        keys = [_key_text(getattr(self, field)) for field in type(self).model_fields]
        return ":".join([type(self).prefix, *keys])

    def __str__(self) -> str:
        return self.name

    def can_join(self, user: User | None) -> bool | Awaitable[bool]:
        """Whether ``user`` (``None`` for an anonymous connection) may join; may be ``async def``.

        The default denies everyone unless the class was declared ``public=True``,
        which admits any authenticated user.
        """
        return type(self).public and user is not None

    def presence_info(self, user: User) -> BaseModel | Mapping[str, Any] | Awaitable[BaseModel | Mapping[str, Any]]:
        """The public profile shown for ``user`` in a ``presence=True`` room (default ``{}``); may be ``async def``.

        Everyone in the room sees it in ``members`` and in ``presence_join`` /
        ``presence_leave``, so return only what they may know. It is taken
        from the user's first connection in the room.

        Example:
            >>> class DocRoom(Room, prefix="doc", presence=True):
            ...     doc_id: str
            ...
            ...     def presence_info(self, user: User) -> dict[str, str]:
            ...         return {"name": str(user.claims.get("name", user.id))}
        """
        return {}


class UserRoom(Room, prefix="user", app=registry.ANY_APP):
    """The personal room ``user:{user_id}`` every authenticated connection joins on connect, in every application.

    Example:
        >>> UserRoom(user_id="7").name
        'user:7'
    """

    user_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.id == self.user_id


def room_from_name(name: str, app: str = registry.DEFAULT_APP) -> Room:
    """Parse a room name back into the room class registered for its prefix in application ``app``.

    Example:
        >>> room_from_name("user:7")
        UserRoom(user_id='7')
    """
    prefix, *keys = name.split(":")
    cls = registry.rooms.get(prefix, app)
    if cls is None or not issubclass(cls, Room):
        where = "" if app == registry.DEFAULT_APP else f" in application {app!r}"
        raise InvalidNameError(f"no room class is registered for prefix {prefix!r}{where} (room name {name!r})")
    fields = list(cls.model_fields)
    if len(keys) != len(fields):
        raise InvalidNameError(f"{cls.__name__} names have {len(fields)} key(s) {fields} (got {name!r})")
    room: Room = cls.model_validate(dict(zip(fields, keys, strict=True)))
    return room
