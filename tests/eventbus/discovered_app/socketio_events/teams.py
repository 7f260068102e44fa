from __future__ import annotations

from events import Event, Room, Target


class DiscoveredTeamRoom(Room, prefix="discovered_team", public=True):
    team_id: str


class TeamRenamedEvent(Event):
    team_id: str
    title: str

    def broadcast_to(self) -> list[Target]:
        return [DiscoveredTeamRoom(team_id=self.team_id)]
