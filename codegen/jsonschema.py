"""``events.schema.json``: one JSON Schema (draft 2020-12) for every payload and ack on the wire.

Schemas come from pydantic. What the server sends (events, acks) uses the
serialization-mode schema with every field required, since ``model_dump``
always writes fields with defaults; what clients send (client events, join
payloads) uses the validation-mode schema, where fields with defaults are optional.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from events.acks import AckError, ErrorAck, JoinOk
from events.history import HistoryJoinOk
from events.presence import PresenceJoinOk

if TYPE_CHECKING:
    from collections.abc import Collection

    from pydantic_core import core_schema

    from codegen.spec import Spec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REF_PREFIX = "#/$defs/"
_Mode = Literal["validation", "serialization"]
NO_INFO: dict[str, Any] = {"type": "object", "additionalProperties": False, "maxProperties": 0}
"""The ``info`` of a presence room that keeps the default ``presence_info``: always ``{}``."""


class WireSchema(GenerateJsonSchema):
    """Pydantic's generator, with serialization-mode fields required unless they can be left out of the dump."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def ref(name: str) -> dict[str, str]:
    """A reference to a definition of the bundle.

    Example:
        >>> ref("ChatRoom")
        {'$ref': '#/$defs/ChatRoom'}
    """
    return {"$ref": f"{REF_PREFIX}{name}"}


def ref_name(schema: dict[str, Any]) -> str | None:
    """The definition name a ``{"$ref": "#/$defs/Name"}`` schema points to, else ``None``."""
    target = schema.get("$ref")
    if isinstance(target, str) and target.startswith(REF_PREFIX):
        return target.removeprefix(REF_PREFIX)
    return None


def is_binary(schema: Any) -> bool:
    """Whether ``schema`` is a ``bytes`` value, which Socket.IO carries as a binary attachment, not as JSON.

    Example:
        >>> is_binary({"type": "string", "format": "binary"}), is_binary({"type": "string"})
        (True, False)
    """
    return isinstance(schema, dict) and schema.get("type") == "string" and schema.get("format") == "binary"


def holds_binary(schema: Any, binary_defs: Collection[str] = ()) -> bool:
    """Whether ``schema`` has a ``bytes`` value anywhere in it, or refers to one of ``binary_defs``.

    Example:
        >>> holds_binary({"type": "array", "items": {"type": "string", "format": "binary"}})
        True
    """
    if isinstance(schema, list):
        return any(holds_binary(item, binary_defs) for item in schema)
    if not isinstance(schema, dict):
        return False
    if is_binary(schema) or ref_name(schema) in binary_defs:
        return True
    return any(holds_binary(value, binary_defs) for value in schema.values())


def binary_definitions(defs: dict[str, Any]) -> set[str]:
    """The definitions that hold a ``bytes`` value, themselves or through those they refer to.

    Example:
        >>> sorted(binary_definitions({
        ...     "File": {"properties": {"data": {"type": "string", "format": "binary"}}},
        ...     "Share": {"properties": {"file": {"$ref": "#/$defs/File"}}},
        ...     "Note": {"properties": {"text": {"type": "string"}}},
        ... }))
        ['File', 'Share']
    """
    found: set[str] = set()
    while True:
        more = {key for key, schema in defs.items() if key not in found and holds_binary(schema, found)}
        if not more:
            return found
        found |= more


def json_schema(spec: Spec) -> dict[str, Any]:
    """The schema bundle of ``spec``: ``$defs`` plus maps from wire names to definitions.

    ``server_to_client`` and ``client_to_server`` map each wire name to its
    payload; ``acks`` maps each client-to-server name to the ack it gets back;
    ``presence_info``, with presence rooms, maps each one's prefix to the
    ``info`` of its members (what its ``presence_info`` returns).

    Example:
        >>> from codegen.spec import build_spec
        >>> from events import UserRoom
        >>> sorted(json_schema(build_spec([], [], [UserRoom], modules=["app"]))["$defs"])
        ['AckError', 'ErrorAck', 'FieldError', 'JoinOk', 'UserRoom']
    """
    inputs: list[tuple[tuple[str, str], _Mode, TypeAdapter[Any]]] = [
        (("lib", "ErrorAck"), "serialization", TypeAdapter(ErrorAck)),
        (("lib", "JoinOk"), "serialization", TypeAdapter(JoinOk)),
    ]
    if spec.has_presence:
        inputs.append((("lib", "PresenceJoinOk"), "serialization", TypeAdapter(PresenceJoinOk)))
    if spec.has_history:
        inputs.append((("lib", "HistoryJoinOk"), "serialization", TypeAdapter(HistoryJoinOk)))
    inputs += [(("server", e.name), "serialization", TypeAdapter(e.model)) for e in spec.server_events]
    inputs += [(("client", e.name), "validation", TypeAdapter(e.model)) for e in spec.client_events]
    inputs += [(("ack", e.name), "serialization", TypeAdapter(e.ack)) for e in spec.client_events if e.ack is not None]
    inputs += [(("room", r.prefix), "validation", TypeAdapter(r.model)) for r in spec.rooms]
    presence = [room for room in spec.joinable_rooms if room.presence]
    inputs += [(("info", r.prefix), "serialization", TypeAdapter(r.info)) for r in presence if r.info is not None]
    schemas, defs_holder = TypeAdapter.json_schemas(
        inputs, by_alias=True, ref_template=REF_PREFIX + "{model}", schema_generator=WireSchema
    )
    keys = {key: schema for (key, _mode), schema in schemas.items()}
    defs: dict[str, Any] = dict(sorted(defs_holder.get("$defs", {}).items()))
    _omit_absent_error_details(defs)

    join_ack = {"anyOf": [ref("JoinOk"), ref("ErrorAck")]}
    presence_join_ack = {"anyOf": [ref("PresenceJoinOk"), ref("ErrorAck")]}
    client_to_server: dict[str, Any] = {}
    acks: dict[str, Any] = {}
    for room in spec.joinable_rooms:
        for name in (room.join_event, room.leave_event):
            client_to_server[name] = keys[("room", room.prefix)]
            acks[name] = join_ack
        if room.presence:
            acks[room.join_event] = presence_join_ack
        if room.history:
            acks[room.join_event] = {"anyOf": [ref("HistoryJoinOk"), ref("ErrorAck")]}
    for event in spec.client_events:
        client_to_server[event.name] = keys[("client", event.name)]
        data = keys[("ack", event.name)] if event.ack is not None else None
        acks[event.name] = {"anyOf": [success_ack(data), ref("ErrorAck")]}
    bundle = {
        "$schema": DRAFT,
        "$comment": spec.header,
        "$defs": defs,
        "server_to_client": {event.name: keys[("server", event.name)] for event in spec.server_events},
        "client_to_server": dict(sorted(client_to_server.items())),
        "acks": dict(sorted(acks.items())),
        "rooms": {room.prefix: keys[("room", room.prefix)] for room in spec.rooms},
    }
    if presence:
        # A room that keeps the default presence_info always sends {} as info.
        bundle["presence_info"] = {r.prefix: keys.get(("info", r.prefix), NO_INFO) for r in presence}
    return bundle


def success_ack(data: dict[str, Any] | None) -> dict[str, Any]:
    """``{"ok": true, "data": ...}``, or ``{"ok": true}`` for an ack without data.

    Example:
        >>> success_ack(None)["required"]
        ['ok']
    """
    properties: dict[str, Any] = {"ok": {"const": True, "type": "boolean"}}
    if data is not None:
        properties["data"] = data
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _omit_absent_error_details(defs: dict[str, Any]) -> None:
    # The runtime builds error acks as dicts and leaves "errors" out when there are none,
    # so on the wire it is optional, although AckError.model_dump() would write null.
    error = defs.get(AckError.__name__)
    if error is not None and "errors" in error.get("required", []):
        error["required"] = [name for name in error["required"] if name != "errors"]


def render_schema(spec: Spec, bundle: dict[str, Any] | None = None) -> str:
    """``events.schema.json`` as text: sorted keys, two-space indent, a final newline.

    Example:
        >>> from codegen.spec import build_spec
        >>> render_schema(build_spec([], [], [], modules=["app"])).splitlines()[1]
        '  "$comment": "Generated by eventbus codegen from app; do not edit.",'
    """
    bundle = bundle if bundle is not None else json_schema(spec)
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
