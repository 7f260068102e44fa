"""The hand-written part of the generated ``client/client.py``; python_sdk.py appends the generated methods."""

from __future__ import annotations

CLIENT_HEAD = '''\
"""A typed Socket.IO client for these events: join rooms, send client events, receive typed events.

Example, for an application with a ``ChatRoom`` and a ``MessageEvent``:
    >>> from client import Client, models
    >>> async def main() -> None:  # doctest: +SKIP
    ...     async with Client("http://localhost:8000", token=TOKEN) as events:
    ...         events.on(models.MessageEvent, print)
    ...         await events.join_chat(chat_id="42")
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, Final, Self, TypeVar, overload

import socketio
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from . import models

{all}

logger = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=BaseModel)
Handler = Callable[[EventT], Awaitable[None] | None]
"""A handler of one server event: called with the validated model, sync or async."""


class Unset:
    """The type of `UNSET`: an optional argument that was not given, so its field is not sent."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


class RequestRefused(Exception):
    """The server answered a join, leave or client event with an error ack (``{{"ok": false, ...}}``)."""

    def __init__(self, event: str, error: models.AckError) -> None:
        super().__init__(f"{{event}} refused: {{error.code}}: {{error.message}}")
        self.event = event
        self.error = error

    @property
    def code(self) -> str:
        """Why: ``forbidden``, ``invalid_payload``, ``unauthorized``, ``rate_limited``, ..."""
        return self.error.code


def _given(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {{name: value for name, value in fields.items() if value is not UNSET}}


def _wire(value: Any) -> Any:
    # pydantic's JSON mode would turn bytes into UTF-8 text; python-socketio sends bytes as binary attachments.
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return {{to_jsonable_python(key): _wire(item) for key, item in value.items()}}
    if isinstance(value, list | tuple | set | frozenset):
        return [_wire(item) for item in value]
    return to_jsonable_python(value)


def _parse(name: str, model: type[BaseModel], data: Any) -> BaseModel | None:
    prefix = PRESENCE_ROOMS.get(model)
    if prefix is not None and isinstance(data, dict):
        room = str(data.get("room", ""))
        if room != prefix and not room.startswith(f"{{prefix}}:"):
            return None  # a presence event of another room class: for another handler
    try:
        return model.model_validate(data)
    except ValidationError:
        # A server newer or older than this client: drop the message, loudly, and keep the connection.
        logger.warning("dropped %s: payload does not match %s", name, model.__name__, exc_info=True)
        return None


def _key(value: Any) -> str:
    # The same text the server puts in room names: enum values, and JSON's true/false for booleans.
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RecoveringClient(socketio.AsyncClient):  # type: ignore[misc]
    """python-socketio's client plus Socket.IO 4.6+ connection state recovery, as socket.io-client does it.

    python-socketio has none: this keeps the ``pid`` of the CONNECT reply (``_handle_connect``) and the
    last offset (the last string argument of an event, taken off the arguments, in ``_handle_event``);
    `BaseClient` presents both in the auth of every reconnect, and ``recovered`` says how it went.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pids: dict[str, str] = {{}}
        self.offsets: dict[str, str] = {{}}
        self.recovered: dict[str, bool] = {{}}
        self._early: dict[str, list[tuple[Any, list[Any]]]] = {{}}

    def recovery_auth(self, namespace: str) -> dict[str, str]:
        """``{{"pid": ..., "offset": ...}}`` for the next connect to ``namespace`` (empty before any pid)."""
        pid = self.pids.get(namespace)
        if pid is None:
            return {{}}
        offset = self.offsets.get(namespace)
        return {{"pid": pid}} if offset is None else {{"pid": pid, "offset": offset}}

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        key = namespace or "/"
        pid = data.get("pid") if isinstance(data, dict) else None
        self.recovered[key] = pid is not None and self.pids.get(key) == pid
        if isinstance(pid, str):
            self.pids[key] = pid
        await super()._handle_connect(namespace, data)
        for id_, early in self._early.pop(namespace or "/", []):
            await super()._handle_event(namespace, id_, early)

    async def _handle_event(self, namespace: str | None, id: Any, data: list[Any]) -> None:
        key = namespace or "/"
        if key in self.pids and len(data) > 1 and isinstance(data[-1], str):
            self.offsets[key] = data[-1]
            data = data[:-1]
        if key not in self.namespaces:
            # Sent before the CONNECT reply (a recovered connection's missed events): held until it, in order,
            # as socket.io-client does.
            self._early.setdefault(key, []).append((id, data))
            return
        await super()._handle_event(namespace, id, data)


class BaseClient:
    """The connection and the plumbing the generated methods use; see `Client`.

    The connection recovers by itself when the server has a recovery window: python-socketio reconnects,
    presenting the session id and last offset, and the missed events arrive in order (``recovered``).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        auth: dict[str, Any] | None = None,
        namespace: str = {namespace},
        timeout: float = 10.0,
        sio: socketio.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.auth = auth if auth is not None else ({{"token": token}} if token is not None else None)
        self.namespace = namespace
        self.timeout = timeout
        self.sio = sio if sio is not None else RecoveringClient()
        self._handlers: dict[str, list[tuple[type[BaseModel], Callable[[Any], Awaitable[None] | None]]]] = {{}}

    async def connect(self, **options: Any) -> None:
        """Connect and authenticate; ``options`` go to ``socketio.AsyncClient.connect`` (``transports``, ...)."""
        await self.sio.connect(self.url, auth=self._auth, namespaces=[self.namespace], **options)

    def _auth(self) -> dict[str, Any] | None:
        # Called on every (re)connect: the recovery fields ride along once the server has sent a pid.
        extra = self.sio.recovery_auth(self.namespace) if isinstance(self.sio, RecoveringClient) else {{}}
        return {{**(self.auth or {{}}), **extra}} or None

    @property
    def recovered(self) -> bool:
        """Whether the last (re)connect restored the previous connection, with the events it missed."""
        return isinstance(self.sio, RecoveringClient) and self.sio.recovered.get(self.namespace, False)

    async def disconnect(self) -> None:
        """Close the connection."""
        await self.sio.disconnect()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    @overload
    def on(self, event: type[EventT]) -> Callable[[Handler[EventT]], Handler[EventT]]: ...

    @overload
    def on(self, event: type[EventT], handler: Handler[EventT]) -> Handler[EventT]: ...

    def on(
        self, event: type[EventT], handler: Handler[EventT] | None = None
    ) -> Handler[EventT] | Callable[[Handler[EventT]], Handler[EventT]]:
        """Call ``handler`` with a validated ``event`` model each time the server sends that event.

        Works as a decorator too: ``@client.on(models.MessageEvent)``. For the
        presence events of one room class, with its members' ``info`` typed,
        pass its classes: ``client.on(DocPresenceJoin, handler)``.
        """
        name = SERVER_EVENTS.get(event)
        if name is None:
            known = ", ".join(sorted(cls.__name__ for cls in SERVER_EVENTS))
            raise TypeError(f"{{event!r}} is not an event the server sends (expected one of: {{known}})")

        def register(handler: Handler[EventT]) -> Handler[EventT]:
            if name not in self._handlers:
                self._handlers[name] = []
                self.sio.on(name, self._dispatcher(name), namespace=self.namespace)
            self._handlers[name].append((event, handler))
            return handler

        return register if handler is None else register(handler)

    def _dispatcher(self, name: str) -> Callable[[Any], Awaitable[None]]:
        async def dispatch(data: Any, *meta: Any) -> None:  # meta: room positions of history rooms
            parsed: dict[type[BaseModel], BaseModel | None] = {{}}
            for model, handler in list(self._handlers[name]):
                if model not in parsed:
                    parsed[model] = _parse(name, model, data)
                event = parsed[model]
                if event is None:
                    continue
                result = handler(event)
                if inspect.isawaitable(result):
                    await result

        return dispatch

    async def _request(self, event: str, payload: BaseModel | dict[str, Any]) -> dict[str, Any]:
        data = payload
        if isinstance(payload, BaseModel):
            data = _wire(payload.model_dump(by_alias=True, exclude_unset=True))
        reply = await self.sio.call(event, data, namespace=self.namespace, timeout=self.timeout)
        if isinstance(reply, dict) and reply.get("ok") is True:
            return reply
        raise RequestRefused(event, models.ErrorAck.model_validate(reply).error)

    async def _join(self, event: str, room: BaseModel) -> models.JoinOk:
        return models.JoinOk.model_validate(await self._request(event, room))
'''
