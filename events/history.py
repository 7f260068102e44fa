"""Per-room history with stream positions (Centrifugo's model), as typed acks and queries codegen types.

A room declared with ``history=N`` keeps its last ``N`` events (for
``history_ttl`` seconds after the last one). Each event sent to it gets a
`StreamPosition` in the room's stream: an ``offset`` that grows by one per event
and an ``epoch`` that changes whenever the stream was lost (expired, or a Redis
without persistence restarted). Live events to such a room carry the positions
as an extra argument after the payload, ``{"chat:42": {"offset": 7, "epoch": "..."}}``.

A join may give the last position the client knows (``since``); the ack, a
`HistoryJoinOk`, then says ``recovered: true`` with the missed events in order,
or ``recovered: false`` and none when they are no longer all there. The
``history`` client event (`HistoryQuery`) returns the last events of a room.
The docstrings of these models end up in the generated TypeScript, so they describe the wire.

Example:
    >>> HistoryJoinOk(room="chat:42", recovered=True, position=StreamPosition(offset=3, epoch="a1b2")).model_dump()
    {'ok': True, 'room': 'chat:42', 'recovered': True, 'position': {'offset': 3, 'epoch': 'a1b2'}, 'publications': []}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from events.acks import JoinOk
from events.base import ClientEvent
from events.presence import PresenceMember  # noqa: TC001 - a field type pydantic resolves at run time
from events.registry import ANY_APP
from events.rooms import check_room_name

__all__ = ["HistoryJoinOk", "HistoryList", "HistoryQuery", "Publication", "StreamPosition"]


class StreamPosition(BaseModel):
    """A position in a room's stream: the offset of its last event (0 before any) and the stream's epoch."""

    offset: int = Field(ge=0)
    epoch: str


class Publication(BaseModel):
    """One event of a room's history: its name, its payload and its offset in the room's stream."""

    event: str
    data: Any = None
    offset: int


class HistoryJoinOk(JoinOk):
    """The ack of a join to a history room.

    ``recovered`` is true when ``publications`` holds every event after the
    ``since`` position the join gave, in order (false when the join gave none, or
    when that position is older than the history or of another epoch: then
    ``publications`` is empty and the page reloads what it shows). ``position``
    is the room's current position; later events arrive live, each with its
    position. ``members`` is set for a room that is also a presence room.
    """

    recovered: bool
    position: StreamPosition
    publications: list[Publication] = Field(default_factory=list)
    members: list[PresenceMember] | None = Field(default=None, exclude_if=lambda value: value is None)


class HistoryList(BaseModel):
    """The last events of a history room, oldest first, and its current position: the data of the ``history`` ack."""

    room: str
    position: StreamPosition
    publications: list[Publication]


class HistoryQuery(ClientEvent, name="history", ack=HistoryList, app=ANY_APP):
    """Ask for the last ``limit`` events of a history room; allowed to connections in it or that ``can_join`` admits."""

    room: str
    limit: int = Field(default=50, ge=1, le=1000)

    @field_validator("room")
    @classmethod
    def _valid_room(cls, value: str) -> str:
        return check_room_name(value)
