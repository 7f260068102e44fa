"""Rooms and events of the multi-process tests, shared by the server app, the emitter workers and the tests."""

from __future__ import annotations

from pydantic import Field

from events import Event, Room, Target


class TeamRoom(Room, prefix="team", public=True):
    team_id: str


class VaultRoom(Room, prefix="vault"):
    """Nobody may join (deny by default): only the server, or a forged Redis message, could put a socket in."""

    vault_id: str


class TickEvent(Event):
    """One numbered message from one source; ``teams`` are its rooms when broadcast."""

    source: str
    seq: int
    teams: list[str] = Field(default_factory=list)

    def broadcast_to(self) -> list[Target]:
        return [TeamRoom(team_id=team) for team in self.teams]
