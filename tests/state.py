"""What the bus keeps per connection, counted: the leak checks compare these with zero once clients have left."""

from __future__ import annotations

from typing import Any

from eventbus import EventBus


def state_counts(bus: EventBus) -> dict[str, int]:
    """Every per-connection structure of the bus, python-socketio and python-engineio, by name, as a count.

    With no client connected each is 0 (rooms: python-socketio keeps none once their last member left).
    """
    sio: Any = bus.sio
    counts: dict[str, int] = {
        "engineio sockets": len(sio.eio.sockets),
        "socketio environ": len(sio.environ),
        "socketio binary packets": len(sio._binary_packet),
        "socketio rooms": sum(len(rooms) for rooms in sio.manager.rooms.values()),
        "socketio callbacks": sum(len(callbacks) for callbacks in sio.manager.callbacks.values()),
        "socketio eio_to_sid": len(getattr(sio.manager, "eio_to_sid", {})),
        "inbound guard": len(bus.inbound_guard),
        "slow-consumer tasks": len(bus.send_limits._tasks),
    }
    coalescer = getattr(sio.manager, "coalescer", None)
    if coalescer is not None:
        counts["coalescer held"] = coalescer.holding
    for path, app in bus.apps.items():
        counts[f"{path} connections"] = len(app._table)
        counts[f"{path} rate-limit buckets"] = len(app._buckets)
        counts[f"{path} token-expiry timers"] = len(app._expiry)
        counts[f"{path} connecting"] = len(app._connecting)
        counts[f"{path} presence joined"] = len(app._presence._joined)
        counts[f"{path} presence lingering"] = len(app._presence._lingering)
    return counts


def leftovers(bus: EventBus) -> dict[str, int]:
    """The counts of `state_counts` that are not back to zero."""
    return {name: count for name, count in state_counts(bus).items() if count}
