"""Turning what a client sent into a model, or into the ``invalid_payload`` ack that says what was wrong."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import typing_extensions
from pydantic import BaseModel, ValidationError

from events.acks import ErrorCode, error_ack, field_errors

M = TypeVar("M", bound=BaseModel)

_JSON_TYPES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
    bytes: "binary data",
}


def json_type(value: Any) -> str:
    """How a JS developer would name the type of a decoded payload.

    Example:
        >>> json_type([1])
        'an array'
    """
    return _JSON_TYPES.get(type(value), type(value).__name__)


def declares_bytes(model: type[BaseModel]) -> bool:
    """Whether ``model`` has a ``bytes`` field anywhere: nested models, lists, dicts, unions and ``Annotated`` included.

    Only such a client event may carry binary attachments (what socket.io-client sends for an
    ``ArrayBuffer``, a typed array or a ``Blob``): for any other the inbound guard refuses them.

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


def parse_payload(model: type[M], event: str, args: tuple[Any, ...]) -> M | dict[str, object]:
    """Validate a payload (join, leave or client event) into ``model``, or return the ``invalid_payload`` ack."""
    payload: Any = args[0] if args else None
    if payload is None and not model.model_fields:
        payload = {}
    if len(args) > 1 or not isinstance(payload, dict):
        got = f"{len(args)} arguments" if len(args) > 1 else json_type(payload)
        keys = ", ".join(model.model_fields) or "no keys"
        return error_ack(ErrorCode.INVALID_PAYLOAD, f"{event} expects one object with {keys} (got {got})")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return error_ack(
            ErrorCode.INVALID_PAYLOAD, f"{event} payload is not a valid {model.__name__}", field_errors(exc)
        )
