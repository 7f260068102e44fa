from __future__ import annotations

from events import Event, Room


class DiscoveredOrderRoom(Room, prefix="discovered_order", public=True):
    order_id: str


class OrderShippedEvent(Event):
    order_id: str
