"""Drive presence like a frontend does, and check every client's view against the truth after each step.

Each `Tab` is one connection of one user. It keeps its view the way a page
would: the ``members`` of its join ack, then every ``presence_join`` and
``presence_leave`` in arrival order. The `Scenario` keeps the truth (which
users have a connection in the room) and, for each tab, the exact list of
presence events it must receive: one per user transition, none for a second
tab or for the tab's own arrival.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.clients import PyClient
from tests.waiting import wait_until

ROOM = "sheet:d1"
PAYLOAD = {"doc_id": "d1"}


@dataclass
class Tab:
    """One connection of ``user``, with its view of the room and the presence events it received, in order."""

    name: str
    user: str
    client: PyClient
    joined: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)
    expected: list[tuple[str, str]] = field(default_factory=list)
    view: set[str] = field(default_factory=set)
    infos: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Specific handlers, not the inbox's catch-all: the view must apply events in arrival order.
        self.client.sio.on("presence_join", lambda data: self._record("join", data))
        self.client.sio.on("presence_leave", lambda data: self._record("leave", data))

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        assert data["room"] == ROOM, data
        user = data["member"]["user_id"]
        self.events.append((kind, user))
        self.infos.append(data["member"])
        if kind == "join":
            self.view.add(user)
        else:
            self.view.discard(user)


class Scenario:
    """The truth of one presence room and what each tab must see; ``settle`` waits for and checks both."""

    def __init__(self, fence: Callable[[list[Tab]], Awaitable[None]], timeout: float = 10) -> None:
        self.tabs: dict[str, Tab] = {}
        self.fence = fence
        self.timeout = timeout

    def add(self, tab: Tab) -> Tab:
        self.tabs[tab.name] = tab
        return tab

    def present(self) -> set[str]:
        return {tab.user for tab in self.tabs.values() if tab.joined}

    def _announce(self, kind: str, user: str) -> None:
        for tab in self.tabs.values():
            if tab.joined:
                tab.expected.append((kind, user))

    async def join(self, name: str) -> dict[str, Any]:
        tab = self.tabs[name]
        first = tab.user not in self.present()
        if first:
            self._announce("join", tab.user)
        ack: dict[str, Any] = await tab.client.call("join_sheet", PAYLOAD)
        assert ack["ok"] is True, ack
        tab.joined = True
        tab.view = {member["user_id"] for member in ack["members"]}
        assert tab.view == self.present(), (name, ack)
        return ack

    async def leave(self, name: str) -> None:
        tab = self.tabs[name]
        tab.joined = False
        if tab.user not in self.present():
            self._announce("leave", tab.user)
        ack = await tab.client.call("leave_sheet", PAYLOAD)
        assert ack == {"ok": True, "room": ROOM}, ack

    async def disconnect(self, name: str) -> None:
        tab = self.tabs.pop(name)
        was_joined, tab.joined = tab.joined, False
        if was_joined and tab.user not in self.present():
            self._announce("leave", tab.user)
        await tab.client.close()

    async def settle(self, members: Callable[[], Awaitable[set[str]]]) -> None:
        """Wait (bounded) until the server and every joined tab agree with the truth, then check counts exactly."""
        truth = self.present()
        joined = [tab for tab in self.tabs.values() if tab.joined]

        async def agreed() -> bool:
            views_ok = all(tab.view == truth and len(tab.events) >= len(tab.expected) for tab in joined)
            return views_ok and await members() == truth

        await wait_until(agreed, f"presence to settle on {sorted(truth)}", self.timeout)
        await self.fence(list(self.tabs.values()))
        for tab in self.tabs.values():
            assert tab.events == tab.expected, (tab.name, tab.events, tab.expected)
            if tab.joined:
                assert tab.view == truth, (tab.name, tab.view, truth)


async def run_steps(scenario: Scenario, members: Callable[[], Awaitable[set[str]]]) -> None:
    """Three users, bob with two tabs, joining, leaving and dropping in an order that hits every transition."""
    steps: list[tuple[str, str]] = [
        ("join", "alice"),
        ("join", "bob1"),  # bob arrives: alice hears it
        ("join", "bob2"),  # bob's second tab: nobody hears anything
        ("join", "carol"),
        ("leave", "bob1"),  # bob still has bob2: no presence_leave
        ("disconnect", "alice"),  # alice's last connection drops: presence_leave
        ("join", "bob1"),  # bob is already present
        ("disconnect", "bob2"),
        ("join", "alice2"),  # alice again, from a new connection
        ("leave", "bob1"),  # bob's last connection leaves
        ("leave", "carol"),
        ("leave", "alice2"),  # the room is empty
    ]
    for action, name in steps:
        if action == "join":
            await scenario.join(name)
        elif action == "leave":
            await scenario.leave(name)
        else:
            await scenario.disconnect(name)
        await scenario.settle(members)
