"""Typed client-to-server events: ``@bus.on(SendMessage)`` handlers, their context and their acks."""

from __future__ import annotations

import inspect
import time
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import TypeAdapter

from eventbus.exceptions import ConfigurationError, EventError
from eventbus.inbound.joins import admit
from eventbus.inbound.payloads import parse_payload
from eventbus.observability import tracing
from eventbus.observability.logfields import library_logger, log_fields
from events import ClientEvent, Event, Room, Target, User
from events.acks import ErrorCode, error_ack
from events.binary import declares_bytes, keep_bytes

if TYPE_CHECKING:
    from eventbus.inbound.host import Host

logger = library_logger(__name__)

E = TypeVar("E", bound=ClientEvent)
Handler = Callable[["Context", E], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler knows about the message it is answering, and how it replies beyond the ack.

    ``bus`` is the application the message arrived in: ``ctx.broadcast`` and
    ``ctx.emit`` stay in it.

    Example:
        >>> @bus.on(SendMessage)
        ... async def send(ctx: Context, msg: SendMessage) -> MessageAck:
        ...     await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, text=msg.text))  # to the others
        ...     return MessageAck(id=17)
    """

    bus: Host
    sid: str
    user: User | None
    event: str

    async def emit(self, event: Event | str, data: Any = None) -> None:
        """Send to this connection only."""
        await self.bus.emit_to_sid(self.sid, event, data)

    async def broadcast(self, event: Event, *, exclude_self: bool = True) -> None:
        """Broadcast to the event's rooms, skipping this connection unless ``exclude_self=False``."""
        await self.bus.broadcast(event, exclude=self.sid if exclude_self else None)

    async def join(self, room: Room) -> None:
        """Join ``room`` with its ``can_join`` and the room limit applied; raises `EventError` when refused."""
        refusal = await admit(self.bus, self.sid, self.user, room)
        if refusal is not None:
            error: dict[str, str] = refusal["error"]  # type: ignore[assignment]
            raise EventError(error["code"], error["message"])

    async def leave(self, room: Target) -> None:
        """Leave a room."""
        await self.bus.leave_room(self.sid, room)


def _shown(ack: Any) -> str:
    return "None" if ack is None else getattr(ack, "__name__", repr(ack))


def check_ack(handler: Callable[..., Any], event: type[ClientEvent]) -> None:
    """Refuse a handler whose return annotation differs from the ack ``event`` declares, naming both.

    An unannotated handler (or one annotated ``Any``) takes the declared ack as it is.
    """
    try:
        annotated = typing.get_type_hints(handler).get("return", Any)
    except NameError:  # annotations naming what the module cannot resolve: the declaration alone counts
        return
    if annotated is Any:
        return
    annotated = None if annotated is type(None) else annotated
    if annotated != event.ack_type:
        raise ConfigurationError(
            f"{handler.__qualname__} returns {_shown(annotated)} but {event.__name__} declares "
            f"ack={_shown(event.ack_type)}: the ack type is part of the client event (codegen reads it from the "
            f"class); make them agree, e.g. class {event.__name__}(ClientEvent, ack={_shown(annotated)})"
        )


def ack_code(ack: dict[str, object]) -> str:
    """``ok``, or the error code of an error ack: the ``code`` label of the metrics.

    Example:
        >>> ack_code({"ok": True}), ack_code(error_ack(ErrorCode.RATE_LIMITED, "slow down"))
        ('ok', 'rate_limited')
    """
    if ack.get("ok"):
        return "ok"
    error = ack.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else "error"


class ClientEventHandler(Generic[E]):
    """Validates one client event, runs its handler and turns every outcome into an ack."""

    def __init__(self, bus: Host, event: type[E], handler: Handler[E]) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise ConfigurationError(f"{handler.__qualname__} must be an async def (it handles {event.__name__})")
        self.bus = bus
        self.event = event
        self.handler = handler
        check_ack(handler, event)
        self._ack = None if event.ack_type is None else TypeAdapter(event.ack_type)
        self._binary_ack = event.ack_type is not None and declares_bytes(event.ack_type)
        self.binary = declares_bytes(event)
        """Whether the event has a ``bytes`` field: only then may a client send it with binary attachments."""
        self._dropped_logged = False

    async def handle(self, sid: str, *args: Any) -> dict[str, object]:
        """The Socket.IO handler: a bound coroutine method, since python-socketio awaits only coroutine functions.

        Counted (``eventbus_client_events_total`` by ack code, its duration) and traced (``eventbus.client_event``).
        """
        name, app, recorder = self.event.event_name, self.bus.namespace, self.bus.recorder
        if not recorder.enabled and not tracing.enabled():
            return await self._answer(sid, name, args, traced=False)  # nothing to count or trace: no span, no clock
        started = time.perf_counter() if recorder.enabled else 0.0
        with tracing.span("eventbus.client_event", {"eventbus.app": app, "eventbus.event": name}) as span:
            ack = await self._answer(sid, name, args, traced=span is not None)
            code = ack_code(ack)
            if span is not None:
                span.set_attribute("eventbus.ack_code", code)
        if recorder.enabled:
            recorder.client_event(app, name, code, time.perf_counter() - started)
        return ack

    async def _answer(self, sid: str, name: str, args: tuple[Any, ...], *, traced: bool) -> dict[str, object]:
        refusal = self.bus.rate_limited(sid, name)
        if refusal is not None:
            return refusal
        message = parse_payload(self.event, name, args)
        if isinstance(message, dict):
            return message
        ctx = Context(self.bus, sid, await self.bus.get_user(sid), name)
        if traced and ctx.user is not None:  # asking opentelemetry for the current span costs every event
            tracing.set_attribute("enduser.id", ctx.user.id)
        try:
            result = await self.handler(ctx, message)
            if self._ack is None:
                if result is not None and not self._dropped_logged:
                    self._dropped_logged = True  # once per handler: a mistake in the code, not in the traffic
                    logger.error(
                        "%s returned a value but %s declares no ack type: the client got {ok: true} without it; "
                        "declare ack=... on the class",
                        self.handler.__qualname__,
                        self.event.__name__,
                        extra=log_fields(sid=sid, user_id=ctx.user and ctx.user.id, app=self.bus.namespace, event=name),
                    )
                return {"ok": True}
            if self._binary_ack:  # its bytes go as attachments: pydantic's JSON mode would make them UTF-8 text
                return {"ok": True, "data": keep_bytes(self._ack.dump_python(result, by_alias=True, warnings="error"))}
            return {"ok": True, "data": self._ack.dump_python(result, mode="json", by_alias=True, warnings="error")}
        except EventError as exc:
            return error_ack(exc.code, exc.message)
        except Exception:
            logger.exception(
                "handler for %r failed: sid=%s user=%s",
                name,
                sid,
                ctx.user and ctx.user.id,
                extra=log_fields(
                    sid=sid, user_id=ctx.user and ctx.user.id, app=self.bus.namespace, event=name, code="internal"
                ),
            )
            return error_ack(ErrorCode.INTERNAL, "the server failed to handle this event")
