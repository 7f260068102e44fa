"""Presence: who is in a room, as typed events and acks (declared here so codegen types them).

A room declared ``presence=True`` tracks its members: one `PresenceMember` per
user however many connections (tabs) they have there. The server sends
`PresenceJoinEvent` when a user's first connection enters the room and
`PresenceLeaveEvent` when their last one leaves or drops; the join ack is a
`PresenceJoinOk` with the current members, and the ``presence`` client event
(`PresenceQuery`) asks for them at any time. The docstrings of these models
end up in the generated TypeScript, so they describe the wire, not Python.

Example:
    >>> PresenceJoinEvent(room="chat:42", member=PresenceMember(user_id="alice", info={"name": "Alice"})).model_dump()
    {'room': 'chat:42', 'member': {'user_id': 'alice', 'info': {'name': 'Alice'}}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from events.acks import JoinOk
from events.base import ClientEvent, Event, Target
from events.registry import ANY_APP
from events.rooms import check_room_name


class PresenceMember(BaseModel):
    """One user present in a room, whatever their number of connections there.

    ``info`` is what the room's ``presence_info(user)`` returned (a small public
    profile; never put secrets in it: every member of the room sees it).
    """

    user_id: str
    info: dict[str, Any] = Field(default_factory=dict)


class PresenceJoinEvent(Event, app=ANY_APP):
    """A user's first connection entered a presence room (sent to the others in it, once per user)."""

    room: str
    member: PresenceMember

    def broadcast_to(self) -> list[Target]:
        return [self.room]


class PresenceLeaveEvent(Event, app=ANY_APP):
    """A user's last connection left a presence room, disconnected, or its server process died."""

    room: str
    member: PresenceMember

    def broadcast_to(self) -> list[Target]:
        return [self.room]


class PresenceJoinOk(JoinOk):
    """The ack of a join to a presence room: ``{"ok": true, "room": "chat:42", "members": [...]}``.

    ``members`` includes the joiner, sorted by user id.
    """

    members: list[PresenceMember]


class PresenceList(BaseModel):
    """The members of a presence room, sorted by user id: the data of the ``presence`` ack."""

    room: str
    members: list[PresenceMember]


class PresenceQuery(ClientEvent, name="presence", ack=PresenceList, app=ANY_APP):
    """Ask who is in a presence room; allowed to connections in the room or that its ``can_join`` admits."""

    room: str

    @field_validator("room")
    @classmethod
    def _valid_room(cls, value: str) -> str:
        return check_room_name(value)
