"""The shapes of acks the server sends back: part of the wire contract, so codegen types them."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError


class ErrorCode(StrEnum):
    """Error codes the library itself sends; applications may add their own with ``EventError``."""

    FORBIDDEN = "forbidden"
    INVALID_PAYLOAD = "invalid_payload"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ROOMS = "too_many_rooms"
    UNKNOWN_EVENT = "unknown_event"
    INVALID_PACKET = "invalid_packet"
    INTERNAL = "internal"


class FieldError(BaseModel):
    """One validation problem: where (``loc``) and what (``msg``), never the offending input."""

    loc: list[str | int]
    msg: str
    type: str


class AckError(BaseModel):
    """Why a request was refused."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    errors: list[FieldError] | None = None


class ErrorAck(BaseModel):
    """``{"ok": false, "error": {...}}``."""

    ok: Literal[False] = False
    error: AckError


class JoinOk(BaseModel):
    """A successful join or leave: ``{"ok": true, "room": "chat:42"}``."""

    ok: Literal[True] = True
    room: str


def error_ack(code: str, message: str, errors: list[FieldError] | None = None) -> dict[str, object]:
    """The wire form of an `ErrorAck`.

    Example:
        >>> error_ack("forbidden", "you may not join chat:42")
        {'ok': False, 'error': {'code': 'forbidden', 'message': 'you may not join chat:42'}}
    """
    error: dict[str, object] = {"code": str(code), "message": message}
    if errors is not None:
        error["errors"] = [e.model_dump() for e in errors]
    return {"ok": False, "error": error}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's error locations and messages, without the input they were about."""
    return [
        FieldError(loc=list(e["loc"]), msg=e["msg"], type=e["type"])
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
