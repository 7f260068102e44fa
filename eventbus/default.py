"""The default sender behind module-level ``broadcast()``: the first `EventBus` or `Emitter` created."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventbus.exceptions import NoDefaultBusError

if TYPE_CHECKING:
    from eventbus.sending import Exclude, Sender
    from events import Event

_default: Sender | None = None


def set_default(sender: Sender | None) -> None:
    """Make ``sender`` the target of module-level ``broadcast()`` (``None`` clears it)."""
    global _default
    _default = sender


def get_default() -> Sender:
    """The default sender; raises `NoDefaultBusError` (a ``RuntimeError``) when there is none."""
    if _default is None:
        raise NoDefaultBusError(
            "broadcast() has no bus to send through: create an EventBus or Emitter first "
            "(the first one becomes the default) or call eventbus.set_default(bus)"
        )
    return _default


def offer_default(sender: Sender) -> None:
    """Make ``sender`` the default unless one is already set."""
    global _default
    if _default is None:
        _default = sender


async def broadcast(event: Event, *, exclude: Exclude = None) -> None:
    """Broadcast ``event`` to its rooms through the default bus, in the application the event is bound to.

    Example:
        >>> from eventbus import broadcast
        >>> with capture_broadcasts() as sent:  # records what is sent: eventbus.testing
        ...     asyncio.run(broadcast(MessageEvent(chat_id="42", text="hi")))  # in async code: await broadcast(...)
        >>> [(s.name, s.rooms) for s in sent]
        [('message', ['chat:42'])]
    """
    await get_default().for_app(type(event).app_path).broadcast(event, exclude=exclude)
