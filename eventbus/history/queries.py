"""The ``history`` client event: the last events of a history room, for connections in it or allowed to join it."""

from __future__ import annotations

from eventbus.exceptions import EventError
from eventbus.inbound.handlers import Context  # noqa: TC001 - bus.on() reads the handler's annotations at run time
from eventbus.inbound.joins import in_or_may_join
from events import InvalidNameError, Room
from events.acks import ErrorCode
from events.history import HistoryList, HistoryQuery  # noqa: TC001 - bus.on() reads the annotations at run time
from events.rooms import room_from_name


def history_room(name: str, app: str) -> Room | None:
    """The room object of ``name`` in application ``app`` when its class keeps history."""
    try:
        room = room_from_name(name, app)
    except (InvalidNameError, ValueError):
        return None
    return room if type(room).history else None


async def query_history(ctx: Context, request: HistoryQuery) -> HistoryList:
    """The ``history`` client event: refused (``forbidden``) to a connection neither in the room nor admitted to it."""
    room = history_room(request.room, ctx.bus.namespace)
    if room is None:
        raise EventError(ErrorCode.INVALID_PAYLOAD, f"{request.room} is not a history room")
    if not await in_or_may_join(ctx.bus, ctx.sid, ctx.user, room):
        raise EventError(ErrorCode.FORBIDDEN, f"you may not read the history of {room.name}")
    return await ctx.bus.history(room, request.limit)
