"""The ``join_<prefix>`` / ``leave_<prefix>`` handlers registered for each room class."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from eventbus.exceptions import PublishError, RedisUnavailableError
from eventbus.inbound.payloads import parse_payload
from eventbus.observability import tracing
from eventbus.observability.logfields import library_logger, log_fields
from events.acks import ErrorCode, JoinOk, error_ack, field_errors
from events.history import StreamPosition
from events.presence import PresenceJoinOk

if TYPE_CHECKING:
    from eventbus.inbound.host import Host
    from events import Room, User

logger = library_logger(__name__)


async def may_join(room: Room, user: User | None) -> bool:
    """``room.can_join(user)``, awaited when the room's ``can_join`` is ``async def``."""
    allowed = room.can_join(user)
    if inspect.isawaitable(allowed):
        allowed = await allowed
    return bool(allowed)


async def in_or_may_join(bus: Host, sid: str, user: User | None, room: Room) -> bool:
    """Whether ``sid`` is in ``room`` on this process or its user may join it: who may read its presence or history."""
    return room.name in bus.joined_rooms(sid) or await may_join(room, user)


async def admit(bus: Host, sid: str, user: User | None, room: Room, *, enter: bool = True) -> dict[str, object] | None:
    """Ask ``can_join`` and the room limit, then enter unless ``enter=False``; ``None`` if admitted, else the ack."""
    try:
        allowed = await may_join(room, user)
    except Exception:
        logger.exception(
            "%s.can_join raised for sid=%s room=%s",
            type(room).__name__,
            sid,
            room.name,
            extra=log_fields(sid=sid, user_id=user and user.id, app=bus.namespace, event=f"join_{room.prefix}"),
        )
        return error_ack(ErrorCode.INTERNAL, "the server could not decide on this join")
    if not allowed:
        code = ErrorCode.UNAUTHORIZED if user is None else ErrorCode.FORBIDDEN
        logger.info(
            "join refused (%s): sid=%s user=%s room=%s",
            code,
            sid,
            user and user.id,
            room.name,
            extra=log_fields(
                sid=sid, user_id=user and user.id, app=bus.namespace, event=f"join_{room.prefix}", code=code
            ),
        )
        return error_ack(code, f"you may not join {room.name}")
    joined = bus.joined_rooms(sid)
    if room.name not in joined and len(joined) >= bus.max_rooms:
        logger.info(
            "join refused (too_many_rooms): sid=%s user=%s room=%s",
            sid,
            user and user.id,
            room.name,
            extra=log_fields(
                sid=sid, user_id=user and user.id, app=bus.namespace, event=f"join_{room.prefix}", code="too_many_rooms"
            ),
        )
        return error_ack(ErrorCode.TOO_MANY_ROOMS, f"a connection may be in at most {bus.max_rooms} rooms")
    if enter:
        await bus.join_room(sid, room)
    return None


def split_since(room: type[Room], event: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """A history room's join payload without its ``since`` position; the position (``None``, or an ack when invalid)."""
    if not room.history or len(args) != 1 or not isinstance(args[0], dict) or "since" not in args[0]:
        return args, None
    payload = dict(args[0])
    raw = payload.pop("since")
    if raw is None:
        return (payload,), None
    try:
        return (payload,), StreamPosition.model_validate(raw)
    except ValidationError as exc:
        message = f"{event} 'since' must be a position {{offset, epoch}} from a previous ack or event"
        return (payload,), error_ack(ErrorCode.INVALID_PAYLOAD, message, field_errors(exc))


def _code(ack: dict[str, object]) -> str:
    error = ack.get("error")
    return str(error.get("code")) if isinstance(error, dict) else "error"


class RoomHandlers:
    """Join and leave handlers for one room class in one application."""

    def __init__(self, bus: Host, room: type[Room]) -> None:
        self.bus = bus
        self.room = room
        self.join_event = f"join_{room.prefix}"
        self.leave_event = f"leave_{room.prefix}"

    def _room_or_refusal(self, sid: str, event: str, args: tuple[Any, ...]) -> Room | dict[str, object]:
        refusal = self.bus.rate_limited(sid, event)
        return refusal if refusal is not None else parse_payload(self.room, event, args)

    async def join(self, sid: str, *args: Any) -> dict[str, object]:
        """Validate, ask ``can_join``, then enter the room; every outcome is an ack, never a disconnect.

        A history room's join may carry ``since`` (a position): the ack is then a `HistoryJoinOk`.
        Counted (``eventbus_joins_total`` by room prefix and ack code) and traced (``eventbus.join``).
        """
        attributes = {"eventbus.app": self.bus.namespace, "eventbus.room_prefix": self.room.prefix}
        with tracing.span("eventbus.join", attributes) as span:
            try:
                ack = await self._join(sid, args)
            except Exception as exc:
                ack = self._failed(sid, self.join_event, exc)
            code = "ok" if ack.get("ok", True) is not False else _code(ack)
            if span is not None:
                span.set_attribute("eventbus.ack_code", code)
        self.bus.recorder.join(self.bus.namespace, self.room.prefix, code)
        return ack

    async def _join(self, sid: str, args: tuple[Any, ...]) -> dict[str, object]:
        args, since = split_since(self.room, self.join_event, args)
        room = self._room_or_refusal(sid, self.join_event, args)
        if isinstance(room, dict):
            return room
        if isinstance(since, dict):
            return since
        refusal = await admit(self.bus, sid, await self.bus.get_user(sid), room, enter=not self.room.history)
        if refusal is not None:
            return refusal
        if self.room.history:
            return await self.bus.join_history(sid, room, since)
        if self.room.presence:
            return PresenceJoinOk(room=room.name, members=await self.bus.presence(room)).model_dump()
        return JoinOk(room=room.name).model_dump()

    async def leave(self, sid: str, *args: Any) -> dict[str, object]:
        """Leave the room; leaving a room the socket is not in is not an error."""
        room = self._room_or_refusal(sid, self.leave_event, args)
        if isinstance(room, dict):
            return room
        try:
            await self.bus.leave_room(sid, room)
        except Exception as exc:
            return self._failed(sid, self.leave_event, exc)
        return JoinOk(room=room.name).model_dump()

    def _failed(self, sid: str, event: str, exc: Exception) -> dict[str, object]:
        """A join or leave that raised (its presence, history or subscription on Redis, mostly): an ack, one line.

        Without this the exception ended python-socketio's handler task: no ack (the client waited for its
        timeout) and a traceback per join while Redis was away. A Redis fault is one line without traceback;
        anything else keeps its traceback, since it is a bug to find.
        """
        redis_fault = isinstance(exc, RedisError | PublishError | RedisUnavailableError | OSError)
        (logger.error if redis_fault else logger.exception)(
            "%s failed: sid=%s: %s: %s",
            event,
            sid,
            type(exc).__name__,
            exc,
            extra=log_fields(sid=sid, app=self.bus.namespace, event=event, code="internal"),
        )
        return error_ack(ErrorCode.INTERNAL, f"the server could not complete {event} (retry later)")
