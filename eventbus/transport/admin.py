"""The Socket.IO Admin UI: python-socketio's ``instrument()``, with the bus's user ids and a lifetime of its own.

python-socketio's ``InstrumentedAsyncServer`` reports to the admin namespace
by patching the server, its manager and python-engineio's ``AsyncSocket``
*class* (``handle_post_request``, ``_websocket_handler``, ``_send_ping``), saving
each original under one private name. Instrumenting a second server in the same
process would save the first one's patch as the "original", and each socket
method would then call itself forever; the patches also outlive the server.
`AdminUIServer` is therefore installed when the bus starts and removed
(``uninstrument``) when it stops, and only one may be installed per process.

Its sockets' ``data`` holds the bus's user id and application path, which the
UI shows beside each connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socketio.async_admin import InstrumentedAsyncServer

from eventbus.exceptions import ConfigurationError
from eventbus.observability.logfields import library_logger

__all__ = ["AdminUIServer"]

logger = library_logger(__name__)

UserOf = Callable[[str, str], "str | None"]

_installed: list[AdminUIServer] = []


class AdminUIServer(InstrumentedAsyncServer):  # type: ignore[misc]  # python-socketio ships no type hints
    """``InstrumentedAsyncServer`` whose sockets carry ``{"user_id", "app"}`` in their ``data``."""

    def __init__(self, sio: Any, *, user_of: UserOf, **options: Any) -> None:
        if _installed:
            raise ConfigurationError(
                "only one Admin UI can run per process: python-socketio's instrument() patches python-engineio's "
                "socket class for the whole process; stop the other bus first, or give admin_ui to one bus only"
            )
        self.user_of = user_of
        self._eio_handlers = {event: sio.eio.handlers.get(event) for event in ("connect", "disconnect")}
        super().__init__(sio, **options)
        _installed.append(self)

    def serialize_socket(self, sid: str, namespace: str, eio_sid: str | None = None) -> dict[str, Any]:
        serialized: dict[str, Any] = super().serialize_socket(sid, namespace, eio_sid)
        serialized["data"] = {"user_id": self.user_of(sid, namespace), "app": namespace}
        return serialized

    async def remove(self) -> None:
        """Undo every patch and stop the statistics task (the bus's ``stop``)."""
        if self not in _installed:
            return
        _installed.remove(self)
        await self.shutdown()
        self.uninstrument()
        for event, handler in self._eio_handlers.items():  # uninstrument() leaves engine.io's handlers pointing here
            if handler is not None:
                self.sio.eio.on(event, handler)
        logger.debug("Admin UI removed from namespace %s", self.admin_namespace)
