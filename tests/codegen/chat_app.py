"""The test chat as codegen sees an application: importing it declares the events and installs the handlers.

Handlers give client events their ack types (``send_message`` acks a
``MessageAccepted``), so, as in an application, they are registered when the module is imported.
"""

from __future__ import annotations

from typing import Any

from eventbus import EventBus
from tests.eventbus import chat_handlers
from tests.sample import ChatRoom


def create_bus(**options: Any) -> EventBus:
    """A bus serving the test chat: the chat room plus every client-event handler."""
    bus = EventBus(rooms=[ChatRoom], **options)
    chat_handlers.install(bus)
    return bus


bus = create_bus(allow_anonymous=True)
