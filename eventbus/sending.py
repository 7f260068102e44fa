"""The sending API shared by `EventBus` (which holds sockets) and `Emitter` (which only publishes)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Self

from events import ANY_APP, Event, Targets, UserRoom, WrongApplicationError
from events.binary import wire_payload
from events.registry import SOCKETIO_RESERVED_NAMES, check_wire_name
from events.targets import check_app, resolve_rooms, room_names

Exclude = str | Iterable[str] | None
"""Socket ids that must not receive the message (the sender, for "to others")."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One message as a sender handed it to Socket.IO: what ``eventbus.testing.capture_broadcasts`` records."""

    name: str
    data: Any
    rooms: list[str] | None
    exclude: list[str] | None
    event: Event | None = None
    app: str = "/"


@dataclass(slots=True)
class _Capture:
    sent: list[Sent]
    deliver: bool


capture: ContextVar[_Capture | None] = ContextVar("eventbus_capture", default=None)
"""Set by ``eventbus.testing.capture_broadcasts``; one lookup per send when unset."""


def encode(event: Event | str, data: Any = None) -> tuple[str, Any]:
    """The wire name and JSON-ready payload of a typed event, or of an untyped ``(name, data)`` pair.

    Example:
        >>> encode("notice", {"text": "hi"})
        ('notice', {'text': 'hi'})
    """
    if isinstance(event, Event):
        if data is not None:
            raise TypeError(f"{type(event).__name__} is a typed event; pass no data beside it")
        return event.event_name, wire_payload(event)
    if not isinstance(event, str):
        raise TypeError(f"expected an Event instance or an event name str (got {type(event).__name__})")
    check_wire_name(event, owner="untyped emit")
    if event in SOCKETIO_RESERVED_NAMES:
        raise ValueError(f"event name {event!r} is reserved by Socket.IO")
    return event, data


def skip_list(exclude: Exclude) -> list[str] | None:
    """python-socketio's ``skip_sid`` from one sid, several, or none."""
    if exclude is None:
        return None
    if isinstance(exclude, str):
        return [exclude]
    return list(exclude)


class Routing:
    """What every sender shares, async or blocking: its application, the checks, the encoding and the capture.

    `Sender` (async: `EventBus`, `Application`, `Emitter`) and `SyncEmitter`
    build each message here, so they cannot drift: the same application
    binding, the same room names, the same encoding, the same test capture.
    """

    namespace: str = "/"

    def _serving(self, path: str) -> Self:
        if path in (self.namespace, ANY_APP):
            return self
        raise WrongApplicationError(f"{type(self).__name__} sends to application {self.namespace!r}, not {path!r}")

    def _event_app(self, event: Event) -> None:
        check_app(type(event), self.namespace)  # before broadcast_to() runs: it may query a database

    def _room_names(self, targets: Targets) -> list[str]:
        return room_names(targets, self.namespace)

    @staticmethod
    def _user_rooms(user_id: str | int) -> list[str]:
        return [UserRoom(user_id=str(user_id)).name]

    def _message(self, event: Event | str, data: Any, rooms: list[str] | None, exclude: Exclude) -> Sent | None:
        """The message to hand to Socket.IO, or ``None`` when a test captures it without delivery."""
        typed = event if isinstance(event, Event) else None
        if typed is not None:
            check_app(type(typed), self.namespace)
        name, payload = encode(event, data)
        sent = Sent(name, payload, rooms, skip_list(exclude), typed, self.namespace)
        capturing = capture.get()
        if capturing is not None:
            capturing.sent.append(sent)
            if not capturing.deliver:
                return None
        return sent


class Sender(Routing, ABC):
    """Typed sending: ``broadcast`` to an event's own rooms, or ``emit_*`` to explicit targets.

    The ``emit_*`` methods also take an untyped ``(name, data)`` pair, the escape
    hatch for code migrating from hand-written ``sio.emit`` calls. A sender
    serves one application (``namespace``): a typed event or `Room` bound to
    another one raises `WrongApplicationError` instead of going astray.
    """

    def for_app(self, path: str) -> Sender:
        """The sender for events bound to application ``path``: this one, when it serves that application."""
        return self._serving(path)

    @abstractmethod
    async def _emit(self, name: str, data: Any, rooms: list[str] | None, skip_sid: list[str] | None) -> None:
        """Deliver one message once to every socket in any of ``rooms`` (all sockets when ``None``)."""

    async def broadcast(self, event: Event, *, exclude: Exclude = None) -> None:
        """Send ``event`` once to every connection in the rooms its ``broadcast_to()`` names.

        The event is serialized once; a client in several of the rooms receives it once.

        Example:
            >>> with capture_broadcasts() as sent:  # records what is sent: eventbus.testing
            ...     asyncio.run(bus.broadcast(MessageEvent(chat_id="42", text="hi"), exclude="sid-of-the-sender"))
            >>> [(s.name, s.data, s.rooms, s.exclude) for s in sent]
            [('message', {'chat_id': '42', 'text': 'hi'}, ['chat:42'], ['sid-of-the-sender'])]
        """
        self._event_app(event)
        rooms = await resolve_rooms(event, self.namespace)
        if rooms:
            await self._send(event, None, rooms, exclude)

    async def emit_to_room(
        self, room: Targets, event: Event | str, data: Any = None, *, exclude: Exclude = None
    ) -> None:
        """Send to one room (a `Room` or a name), or to several given as an iterable."""
        rooms = self._room_names(room)
        if rooms:
            await self._send(event, data, rooms, exclude)

    async def emit_to_user(
        self, user_id: str | int, event: Event | str, data: Any = None, *, exclude: Exclude = None
    ) -> None:
        """Send to every connection of one user (their ``user:{id}`` room); silent when they have none."""
        await self._send(event, data, self._user_rooms(user_id), exclude)

    async def emit_to_all(self, event: Event | str, data: Any = None, *, exclude: Exclude = None) -> None:
        """Send to every connection of the namespace."""
        await self._send(event, data, None, exclude)

    async def _send(self, event: Event | str, data: Any, rooms: list[str] | None, exclude: Exclude) -> None:
        sent = self._message(event, data, rooms, exclude)
        if sent is not None:
            await self._emit(sent.name, sent.data, sent.rooms, sent.exclude)
