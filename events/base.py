"""`Event` (server to client) and `ClientEvent` (client to server): pydantic models with a wire name."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar, TypeAlias

from pydantic import BaseModel, ConfigDict

from events import registry
from events._naming import derive_name
from events.exceptions import MissingTargetsError
from events.rooms import Room

Target: TypeAlias = Room | str
"""Where an event goes: a `Room` or a room name."""

Targets: TypeAlias = Target | Iterable[Target]
"""What ``broadcast_to()`` and ``emit_to_room()`` take: one target or several (each room is sent to once)."""


class _Named(BaseModel):
    """Gives each subclass a wire name and records it in the registry of its kind."""

    model_config = ConfigDict(extra="forbid")

    event_name: ClassVar[str]
    app_path: ClassVar[str] = registry.DEFAULT_APP
    __abstract_event__: ClassVar[bool] = False
    _registry: ClassVar[registry.Registry[type]]

    def __init_subclass__(
        cls, *, name: str | None = None, abstract: bool = False, app: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_name = name if name is not None else derive_name(cls.__name__, "event")
        cls.__abstract_event__ = abstract
        if app is not None:  # otherwise inherited: an abstract base can bind a family of events to one application
            cls.app_path = registry.check_app_path(app, owner=cls.__qualname__)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("__abstract_event__"):
            return
        registry.check_wire_name(cls.event_name, owner=cls.__qualname__)
        cls._registry.register(cls.event_name, cls, app=cls.app_path)


class Event(_Named, abstract=True):
    """A server-to-client event. The wire name is the class name in snake_case minus ``_event``.

    Pass ``name="..."`` to choose the wire name, ``abstract=True`` for a base
    class that is never sent itself, ``app="/admin"`` to bind it to an
    application (a Socket.IO namespace; default ``/``, ``"*"`` for every
    application). Define ``broadcast_to`` (sync or async) to say which rooms
    the event goes to. ``volatile=True`` marks an event that is worth nothing
    later (a typing indicator): it is neither kept in room history nor
    replayed on recovery, and carries no offset or positions.

    Example:
        >>> class MessageEvent(Event):
        ...     chat_id: str
        ...     text: str
        ...
        ...     def broadcast_to(self) -> list[Target]:
        ...         return [f"chat:{self.chat_id}"]
        >>> MessageEvent.event_name
        'message'
        >>> class AdminAlertEvent(Event, app="/admin"):
        ...     text: str
        >>> AdminAlertEvent.app_path
        '/admin'
    """

    _registry = registry.server_events
    volatile: ClassVar[bool] = False

    def __init_subclass__(cls, *, volatile: bool | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if volatile is not None:
            cls.volatile = volatile

    def broadcast_to(self) -> Targets | Awaitable[Targets]:
        """The rooms this event goes to: `Room` instances or room names; may be ``async def``."""
        raise MissingTargetsError(
            f"{type(self).__name__} defines no broadcast_to(); define it to use broadcast(), "
            "or send it with emit_to_room(), emit_to_user() or emit_to_all()"
        )


class ClientEvent(_Named, abstract=True):
    """A client-to-server event, validated before its handler runs.

    The ack is part of the declaration: ``ack=`` names the type of the data
    the handler returns (``{"ok": true, "data": ...}``); without it the ack
    carries no data (``{"ok": true}``). Codegen types the ack from this alone,
    whatever modules it imported; registering a handler whose return
    annotation says otherwise fails, naming both.

    Example:
        >>> from pydantic import BaseModel
        >>> class MessageAck(BaseModel):
        ...     id: int
        >>> class SendMessage(ClientEvent, ack=MessageAck):
        ...     chat_id: str
        ...     text: str
        >>> SendMessage.event_name, SendMessage.ack_type.__name__
        ('send_message', 'MessageAck')
        >>> class MarkRead(ClientEvent):  # acked with {"ok": true}
        ...     chat_id: str
        >>> MarkRead.ack_type is None
        True
    """

    _registry = registry.client_events
    ack_type: ClassVar[Any] = None
    """The type of the ack's ``data``; ``None`` for an ack without data."""

    def __init_subclass__(cls, *, ack: Any = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.ack_type = None if ack is type(None) else ack
