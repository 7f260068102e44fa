"""``bytes`` fields: which models declare them, and payloads that keep them as bytes for Socket.IO attachments."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

import typing_extensions
from pydantic import BaseModel
from pydantic_core import to_jsonable_python


def declares_bytes(model: Any) -> bool:
    """Whether ``model`` (or any type) has ``bytes`` anywhere: nested models, lists, dicts, unions and ``Annotated``.

    Only such a client event may carry binary attachments (what socket.io-client sends for an
    ``ArrayBuffer``, a typed array or a ``Blob``): for any other the inbound guard refuses them.
    Such a server event or ack is sent with its bytes as attachments (see `keep_bytes`).

    Example:
        >>> class Upload(BaseModel):
        ...     name: str
        ...     chunks: list[dict[str, bytes]] | None = None
        >>> class Note(BaseModel):
        ...     text: str
        ...     tags: dict[str, list[str]] = {}
        >>> declares_bytes(Upload), declares_bytes(Note)
        (True, False)
    """
    seen: set[type] = set()
    stack: list[Any] = [model]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, bytes):
            return True
        if isinstance(annotation, type) and annotation not in seen:
            seen.add(annotation)
            if issubclass(annotation, BaseModel):
                stack.extend(field.annotation for field in annotation.model_fields.values())
            elif dataclasses.is_dataclass(annotation) or typing_extensions.is_typeddict(annotation):
                stack.extend(typing.get_type_hints(annotation).values())
        stack.extend(typing.get_args(annotation))  # list[X], dict[K, V], X | None, Annotated[X, ...]
    return False


def wire_payload(model: BaseModel) -> Any:
    """``model`` as JSON-ready data for the wire, its ``bytes`` kept as bytes (Socket.IO sends each as an attachment).

    A model without a ``bytes`` field is its JSON-mode dump. pydantic's JSON mode would turn bytes into UTF-8
    text (and fail on anything else), so a model with one is dumped in Python mode and every other value made
    JSON-ready as the JSON mode does.

    Example:
        >>> class Thumbnail(BaseModel):
        ...     name: str
        ...     png: bytes
        >>> wire_payload(Thumbnail(name="a.png", png=b"\\x89PNG"))
        {'name': 'a.png', 'png': b'\\x89PNG'}
    """
    if not _declares_bytes(type(model)):
        return model.model_dump(mode="json", by_alias=True)
    return keep_bytes(model.model_dump(by_alias=True))


@functools.cache
def _declares_bytes(model: type[BaseModel]) -> bool:
    # Once per class: every send asks. (Not on declares_bytes itself: an Annotated type may not be hashable.)
    return declares_bytes(model)


def keep_bytes(value: Any) -> Any:
    """A Python-mode dump made JSON-ready as pydantic's JSON mode would, except that bytes stay bytes.

    Example:
        >>> import datetime
        >>> keep_bytes({"at": datetime.date(2026, 1, 2), "parts": (b"\\x00", {1: b"\\xff"})})
        {'at': '2026-01-02', 'parts': [b'\\x00', {1: b'\\xff'}]}
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return {to_jsonable_python(key): keep_bytes(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [keep_bytes(item) for item in value]
    return to_jsonable_python(value)
