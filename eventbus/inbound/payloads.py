"""Turning what a client sent into a model, or into the ``invalid_payload`` ack that says what was wrong."""

from __future__ import annotations

from typing import Any, TypeVar

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
