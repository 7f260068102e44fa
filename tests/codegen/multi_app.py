"""Two applications that reuse one wire name: codegen must generate them one at a time (``--app``)."""

from __future__ import annotations

from events import Event


class AdminNotice(Event, name="notice", app="/admin"):
    severity: int


class FeedNotice(Event, name="notice", app="/feed"):
    headline: str


class Headline(Event, app="/feed"):
    title: str
