"""History rooms shared by the history tests."""

from __future__ import annotations

from pydantic import Field

from events import Event, Room, Target, User

TEAM = {"alice", "bob"}


class FeedRoom(Room, prefix="feed", history=5, history_ttl=60):
    feed_id: str

    def can_join(self, user: User | None) -> bool:
        return user is not None and user.id in TEAM


class PostEvent(Event):
    feed_id: str
    n: int

    def broadcast_to(self) -> list[Target]:
        return [FeedRoom(feed_id=self.feed_id)]


class DeskRoom(Room, prefix="desk", presence=True, public=True):
    """A presence room anyone signed in may join."""

    desk_id: str


class FeedPingEvent(Event, volatile=True):
    """Worth nothing later: never kept in history nor replayed."""

    feed_id: str

    def broadcast_to(self) -> list[Target]:
        return [FeedRoom(feed_id=self.feed_id)]


class FeedDigestEvent(Event):
    """One event to several feeds and desks at once (on a Redis Cluster: rooms of several partitions)."""

    feeds: list[str]
    desks: list[str] = Field(default_factory=list)
    n: int

    def broadcast_to(self) -> list[Target]:
        return [*(FeedRoom(feed_id=feed) for feed in self.feeds), *(DeskRoom(desk_id=desk) for desk in self.desks)]
