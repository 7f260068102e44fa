"""Rooms and events of the multi-process tests, shared by the server app, the emitter workers and the tests."""

from __future__ import annotations

from pydantic import BaseModel, Field

from events import Event, Room, Target, User


class TeamRoom(Room, prefix="team", public=True):
    team_id: str


class VaultRoom(Room, prefix="vault"):
    """Nobody may join (deny by default): only the server, or a forged Redis message, could put a socket in."""

    vault_id: str


class DocMember(BaseModel):
    """What the others see of a user editing a document."""

    name: str


class DocRoom(Room, prefix="sheet", presence=True):
    """A presence room: everyone may join except ``mallory``, who may not even ask who is in it."""

    doc_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.id != "mallory"

    def presence_info(self, user: User) -> DocMember:
        return DocMember(name=user.id.title())


class TickEvent(Event):
    """One numbered message from one source; ``teams`` are its rooms when broadcast."""

    source: str
    seq: int
    teams: list[str] = Field(default_factory=list)
    sent_at: float = 0.0
    pad: str = ""

    def broadcast_to(self) -> list[Target]:
        return [TeamRoom(team_id=team) for team in self.teams]
