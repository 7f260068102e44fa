"""``asyncapi.yaml``: an AsyncAPI 3.0 document of the server application.

A channel per room pattern (its key fields are the address parameters)
carries every server event, which the application ``send``s; the
``connection`` channel (each client's own socket) carries joins, leaves and
client events, which the application ``receive``s and answers with an ack
(``reply``). Payload schemas are the JSON Schema definitions, rewritten to the
AsyncAPI schema dialect (draft-07 based).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from codegen.jsonschema import REF_PREFIX, binary_definitions, holds_binary, json_schema, ref_name
from codegen.typescript import room_pattern
from events.presence import PresenceJoinEvent, PresenceLeaveEvent

if TYPE_CHECKING:
    from codegen.spec import RoomSpec, Spec

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/"
CONNECTION = "connection"
_JWT = {"$ref": "#/components/securitySchemes/jwt"}
BINARY_EXTENSION = "x-socketio-binary"
_BINARY = (
    "A Socket.IO binary message: each `format: binary` value travels as a binary attachment, not as JSON text "
    "(socket.io-client sends an ArrayBuffer, a typed array or a Blob, and hands over an ArrayBuffer in a browser, "
    "a Buffer in Node)."
)


def asyncapi_schema(schema: Any) -> Any:
    """A draft 2020-12 schema from pydantic rewritten for AsyncAPI's draft-07 based schema format.

    Example:
        >>> asyncapi_schema({"prefixItems": [{"$ref": "#/$defs/A"}], "maxItems": 1, "type": "array"})
        {'items': [{'$ref': '#/components/schemas/A'}], 'maxItems': 1, 'type': 'array', 'additionalItems': False}
    """
    if isinstance(schema, list):
        return [asyncapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
            out[key] = SCHEMAS + value.removeprefix(REF_PREFIX)
        elif key == "prefixItems":
            out["items"] = asyncapi_schema(value)
        elif key == "items" and "prefixItems" in schema:
            out["additionalItems"] = asyncapi_schema(value)
        elif key == "discriminator" and isinstance(value, dict):
            # OpenAPI's discriminator object; the AsyncAPI schema format takes just the property name.
            out[key] = value.get("propertyName")
        else:
            out[key] = asyncapi_schema(value)
    if "prefixItems" in schema and "items" not in schema and schema.get("maxItems") == len(schema["prefixItems"]):
        out["additionalItems"] = False
    return out


def _summary(definition: dict[str, Any]) -> dict[str, str]:
    text = str(definition.get("description", "")).strip()
    return {"summary": text.splitlines()[0]} if text else {}


def _message(name: str, title: str, payload: Any, definition: dict[str, Any], binary: set[str]) -> dict[str, Any]:
    message = {"name": name, "title": title, **_summary(definition), "payload": asyncapi_schema(payload)}
    if holds_binary(payload, binary):
        message |= {"description": _BINARY, BINARY_EXTENSION: True}
    return message


class _Document:
    def __init__(self, spec: Spec, bundle: dict[str, Any]) -> None:
        self.spec = spec
        self.bundle = bundle
        self.messages: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.binary = binary_definitions(bundle["$defs"])

    def definition(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = ref_name(payload) or "payload"
        return key, self.bundle["$defs"].get(key, payload)

    def server_events(self) -> dict[str, Any]:
        refs = {}
        for name, payload in self.bundle["server_to_client"].items():
            key, definition = self.definition(payload)
            self.messages[key] = _message(name, key, payload, definition, self.binary)
            refs[key] = {"$ref": f"#/components/messages/{key}"}
        return refs

    def room_channel(self, room: RoomSpec, event_refs: dict[str, Any]) -> None:
        _, definition = self.definition(self.bundle["rooms"][room.prefix])
        properties = definition.get("properties", {})
        parameters = {}
        for key in room.keys:
            prop = properties.get(key, {})
            text = prop.get("description") or f"The room's {key!r} key."
            parameters[key] = {"description": f"{text} JSON type: {prop.get('type', 'any')}."}
        what = str(definition.get("description") or f"The rooms of {room.model.__name__}.").strip()
        how = (
            f"clients join with `{room.join_event}`"
            if room.joinable
            else "each connection is put in its own on connect"
        )
        channel: dict[str, Any] = {"address": room_pattern(room), "title": room.model.__name__}
        channel["description"] = f"{what}\n\nRoom pattern `{room_pattern(room)}`; {how}."
        if parameters:
            channel["parameters"] = parameters
        channel["messages"] = dict(event_refs)
        self.channels[room.prefix] = channel
        if event_refs:
            self.operations[f"send_to_{room.prefix}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{room.prefix}"},
                "summary": f"Events broadcast to `{room_pattern(room)}` rooms.",
                "messages": [{"$ref": f"#/channels/{room.prefix}/messages/{key}"} for key in event_refs],
            }

    def request(self, name: str, summary: str, connection: dict[str, Any]) -> None:
        payload = self.bundle["client_to_server"][name]
        key, definition = self.definition(payload)
        request_key, ack_key = f"{name}.request", f"{name}.ack"
        self.messages[request_key] = _message(name, key, payload, definition, self.binary)
        ack = self.bundle["acks"][name]
        self.messages[ack_key] = _message(f"{name} ack", f"{key} ack", ack, {}, self.binary)
        for message in (request_key, ack_key):
            connection[message] = {"$ref": f"#/components/messages/{message}"}
        channel = {"$ref": f"#/channels/{CONNECTION}"}
        self.operations[name] = {
            "action": "receive",
            "channel": channel,
            "summary": summary,
            "security": [_JWT],
            "messages": [{"$ref": f"#/channels/{CONNECTION}/messages/{request_key}"}],
            "reply": {"channel": channel, "messages": [{"$ref": f"#/channels/{CONNECTION}/messages/{ack_key}"}]},
        }

    def build(self) -> dict[str, Any]:
        event_refs = self.server_events()
        presence_only = {PresenceJoinEvent.__name__, PresenceLeaveEvent.__name__}
        for room in self.spec.rooms:
            # Only presence rooms get presence_join / presence_leave.
            refs = {key: ref for key, ref in event_refs.items() if room.presence or key not in presence_only}
            self.room_channel(room, refs)
        connection: dict[str, Any] = {}
        for room in self.spec.joinable_rooms:
            self.request(room.join_event, f"Join a `{room_pattern(room)}` room if `can_join` allows.", connection)
            self.request(room.leave_event, f"Leave a `{room_pattern(room)}` room.", connection)
        for event in self.spec.client_events:
            _, definition = self.definition(self.bundle["client_to_server"][event.name])
            summary = _summary(definition).get("summary", f"The client event `{event.name}`.")
            self.request(event.name, summary, connection)
        self.channels[CONNECTION] = {
            "address": None,
            "title": "Connection",
            "description": "Each client's own Socket.IO connection: joins, leaves and client events, each acked.",
            "messages": dict(sorted(connection.items())),
        }
        return {
            "asyncapi": ASYNCAPI_VERSION,
            "info": {
                "title": f"{', '.join(self.spec.modules)} events",
                "version": "1.0.0",
                "description": "Socket.IO events: room channels carry what the server sends, the connection "
                "channel what clients send, each answered by an ack.",
            },
            "defaultContentType": "application/json",
            "channels": self.channels,
            "operations": dict(sorted(self.operations.items())),
            "components": {
                "schemas": asyncapi_schema(self.bundle["$defs"]),
                "messages": dict(sorted(self.messages.items())),
                "securitySchemes": {
                    "jwt": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "A JWT in the Socket.IO auth payload (`auth: { token }`), "
                        "else an `Authorization: Bearer` header, else the configured cookie.",
                    }
                },
            },
        }


def asyncapi_document(spec: Spec, bundle: dict[str, Any] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``spec`` as a dict.

    Example:
        >>> from codegen.spec import build_spec
        >>> from events import UserRoom
        >>> asyncapi_document(build_spec([], [], [UserRoom], modules=["app"]))["channels"]["user"]["address"]
        'user:{user_id}'
    """
    return _Document(spec, bundle if bundle is not None else json_schema(spec)).build()


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text, and no anchors: a shared message reference is written out each time."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def render_asyncapi(spec: Spec, bundle: dict[str, Any] | None = None) -> str:
    """``asyncapi.yaml`` as text, with the generated-file header as its first line.

    Example:
        >>> from codegen.spec import build_spec
        >>> render_asyncapi(build_spec([], [], [], modules=["app"])).splitlines()[:2]
        ['# Generated by eventbus codegen from app; do not edit.', 'asyncapi: 3.0.0']
    """
    document = asyncapi_document(spec, bundle)
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
    return f"# {spec.header}\n{body}"
