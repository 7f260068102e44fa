"""``events.ts``: TypeScript types for socket.io-client, written from the schema bundle in Python.

One interface (or type) per definition, the ``ServerToClientEvents`` and
``ClientToServerEvents`` maps that ``Socket<ServerToClientEvents,
ClientToServerEvents>`` takes, and one room-name helper per room class.
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any

from codegen.exceptions import NameCollisionError
from codegen.jsonschema import binary_definitions, holds_binary, is_binary, json_schema, ref_name
from events import PresenceJoinEvent, PresenceLeaveEvent, PresenceQuery

if TYPE_CHECKING:
    from codegen.spec import RoomSpec, Spec

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_HELPER_TYPES = (
    *("ClientToServerEvents", "EmptyAck", "EventAck", "JoinAck", "PresenceJoinAck", "ServerToClientEvents"),
    *("PresenceEventIn", "PresenceInfo", "PresenceJoinAckIn", "PresenceListIn", "PresenceMemberIn", "PresenceRoomName"),
    "HistoryPresenceJoinAckIn",
    *("BinaryIn", "BinaryOut", "TBinary"),
)
# Globals the generated code itself uses, and words a type may not be named.
_RESERVED = frozenset(
    {*_HELPER_TYPES, "Record", "String", "any", "boolean", "never", "null", "number", "object", "string", "symbol"}
    | {"undefined", "unknown", "void", "type", "interface", "function", "class", "enum", "export", "import"}
)
_PRESENCE_EVENTS = (PresenceJoinEvent, PresenceLeaveEvent)
_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null"}
# What a bytes field holds on each side: socket.io-client sends each as a binary attachment (any ArrayBuffer view
# or Blob), and hands an incoming one over as an ArrayBuffer in a browser, as a Buffer (a Uint8Array) in Node.
BINARY_IN = "BinaryIn"
BINARY_OUT = "BinaryOut"
_BINARY_PARAMETER = "TBinary"
_BINARY_TYPES = f"""\
/** A bytes field as it arrives: an `ArrayBuffer` in a browser, a `Buffer` (a `Uint8Array`) in Node. */
export type {BINARY_IN} = ArrayBuffer | Uint8Array;

/** A bytes field as it may be sent: socket.io-client sends each as a binary attachment. */
export type {BINARY_OUT} = ArrayBuffer | ArrayBufferView | Blob;
"""


def ts_identifier(name: str) -> str:
    """A TypeScript type name for a definition name (pydantic writes ``Label-Input`` for mode-specific ones).

    Example:
        >>> ts_identifier("Label-Input")
        'LabelInput'
    """
    parts = [part for part in re.split(r"[^A-Za-z0-9_$]+", name) if part]
    joined = parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:]) if parts else "_"
    return f"_{joined}" if joined[0].isdigit() else joined


def camel_case(prefix: str) -> str:
    """``sprint_board`` -> ``sprintBoard``.

    Example:
        >>> camel_case("business_monitoring")
        'businessMonitoring'
    """
    head, *rest = prefix.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def property_key(name: str) -> str:
    """A property name as written in a TypeScript type: bare when it is an identifier, else quoted.

    Example:
        >>> property_key("project.renamed")
        '"project.renamed"'
    """
    return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)


def literal(value: Any) -> str:
    """A JSON scalar as a TypeScript literal type.

    Example:
        >>> literal("open"), literal(None), literal(True)
        ('"open"', 'null', 'true')
    """
    return json.dumps(value)


def jsdoc(lines: list[str], indent: str = "") -> list[str]:
    """A JSDoc block for ``lines``; nothing when there are none."""
    text = [line.replace("*/", "*\\/").rstrip() for line in lines]
    if not text:
        return []
    if len(text) == 1:
        return [f"{indent}/** {text[0]} */"]
    return [f"{indent}/**", *(f"{indent} *{' ' if line else ''}{line}" for line in text), f"{indent} */"]


class TypeWriter:
    """Turns JSON Schema fragments of one bundle into TypeScript type expressions.

    A definition that holds bytes is generic in what its bytes are (``File<BinaryIn>`` received,
    ``File<BinaryOut>`` sent); ``binary`` is the type its bytes and such references get here.

    Example:
        >>> TypeWriter({"Tag": {}}).type_of({"type": "array", "items": {"$ref": "#/$defs/Tag"}})
        'Tag[]'
        >>> TypeWriter({}, binary="BinaryOut").type_of({"type": "string", "format": "binary"})
        'BinaryOut'
    """

    def __init__(self, defs: dict[str, Any], *, binary: str = BINARY_IN) -> None:
        self.binary = binary
        self.generic = binary_definitions(defs)
        self.names = {key: ts_identifier(key) for key in defs}
        seen: dict[str, str] = {}
        for key, name in self.names.items():
            if name in _RESERVED:
                raise NameCollisionError(f"the model {key!r} cannot be a TypeScript type named {name!r}; rename it")
            if name in seen:
                raise NameCollisionError(f"the models {seen[name]!r} and {key!r} would both be TypeScript {name!r}")
            seen[name] = key

    def using(self, binary: str) -> TypeWriter:
        """This writer with bytes typed as ``binary`` (``BinaryOut`` for what clients send)."""
        other = copy.copy(self)
        other.binary = binary
        return other

    def type_of(self, schema: Any) -> str:
        """The TypeScript type accepting what ``schema`` accepts (``unknown`` for an unconstrained schema)."""
        if not isinstance(schema, dict):
            return "never" if schema is False else "unknown"
        target = ref_name(schema)
        if target is not None:
            return f"{self.names[target]}<{self.binary}>" if target in self.generic else self.names[target]
        if "const" in schema:
            return literal(schema["const"])
        if "enum" in schema:
            return self._union([literal(value) for value in schema["enum"]])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union([self.type_of(option) for option in schema[key]])
        if "allOf" in schema:
            return " & ".join(self._wrap(self.type_of(part)) for part in schema["allOf"]) or "unknown"
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self.type_of({**schema, "type": one}) for one in kind])
        if kind == "array":
            return self._array(schema)
        if kind == "object":
            return self.object_type(schema)
        if is_binary(schema):
            return self.binary
        return _SCALARS.get(str(kind), "unknown")

    def _array(self, schema: dict[str, Any]) -> str:
        if "prefixItems" in schema:
            items = [self.type_of(item) for item in schema["prefixItems"]]
            rest = schema.get("items", schema.get("maxItems") != len(items))
            if rest is not False:
                items.append(f"...{self._wrap(self.type_of(rest))}[]")
            return f"[{', '.join(items)}]"
        return f"{self._wrap(self.type_of(schema.get('items', True)))}[]"

    def object_type(self, schema: dict[str, Any]) -> str:
        """An inline object type: ``{ a: string; b?: number }``, or a string-keyed map."""
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if not properties:
            if extra is False:
                return "Record<string, never>"
            return f"{{ [key: string]: {self.type_of(extra)} }}"
        members = [f"{prop}: {kind};" for prop, kind in self.members(schema)]
        return "{ " + " ".join(members)[:-1] + " }"

    def members(self, schema: dict[str, Any]) -> list[tuple[str, str]]:
        """``(key, type)`` of each property, the key marked optional (``?``) or ``readonly`` as the schema says."""
        required = set(schema.get("required", []))
        result = []
        for name, prop in schema.get("properties", {}).items():
            key = property_key(name) + ("" if name in required else "?")
            if isinstance(prop, dict) and prop.get("readOnly"):
                key = f"readonly {key}"
            result.append((key, self.type_of(prop)))
        return result

    @staticmethod
    def _union(options: list[str]) -> str:
        unique = list(dict.fromkeys(options))
        if not unique:
            return "never"
        return unique[0] if len(unique) == 1 else " | ".join(unique)

    @staticmethod
    def _wrap(kind: str) -> str:
        return f"({kind})" if " | " in kind or " & " in kind else kind


def _formats(prop: dict[str, Any]) -> list[str]:
    options = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
    return list(dict.fromkeys(str(option["format"]) for option in options if "format" in option))


def _property_doc(prop: Any, required: bool) -> list[str]:
    if not isinstance(prop, dict):
        return []
    lines = str(prop.get("description", "")).splitlines()
    # Strings that pydantic parses (datetime, UUID, ...) say which format they carry.
    lines += [f"@format {fmt}" for fmt in _formats(prop)]
    if not required and "default" in prop:
        lines.append(f"@default {json.dumps(prop['default'])}")
    if prop.get("deprecated"):
        lines.append("@deprecated")
    return lines


def _definition(writer: TypeWriter, key: str, schema: dict[str, Any]) -> list[str]:
    name = writer.names[key]
    lines = jsdoc(str(schema.get("description", "")).splitlines())
    if key in writer.generic:
        # Received by default; `Name<BinaryOut>` is what a client sends.
        name = f"{name}<{_BINARY_PARAMETER} extends {BINARY_OUT} = {BINARY_IN}>"
        writer = writer.using(_BINARY_PARAMETER)
    is_object = schema.get("type") == "object" and not any(k in schema for k in ("anyOf", "oneOf", "allOf"))
    if not is_object or not schema.get("properties"):
        return [*lines, f"export type {name} = {writer.type_of(schema)};"]
    required = set(schema.get("required", []))
    lines.append(f"export interface {name} {{")
    for (member, kind), (prop_name, prop) in zip(writer.members(schema), schema["properties"].items(), strict=True):
        lines += jsdoc(_property_doc(prop, prop_name in required), "  ")
        lines.append(f"  {member}: {kind};")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        lines.append("  [key: string]: unknown;")
    lines.append("}")
    return lines


def _description(bundle: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    target = ref_name(schema)
    definition = bundle["$defs"].get(target, {}) if target else schema
    return str(definition.get("description", "")).splitlines()


def _ack_type(writer: TypeWriter, ack: dict[str, Any]) -> str:
    success = ack["anyOf"][0]
    if ref_name(success) == "JoinOk":
        return "JoinAck"
    if ref_name(success) == "PresenceJoinOk":
        return "PresenceJoinAck"
    if ref_name(success) == "HistoryJoinOk":
        return "HistoryJoinAck"
    data = success.get("properties", {}).get("data")
    return "EmptyAck" if data is None else f"EventAck<{writer.type_of(data)}>"


def _history_helpers() -> list[str]:
    out = jsdoc(["The ack of a join to a history room: `{ ok: true, room, recovered, position, publications }`."])
    out += ["export type HistoryJoinAck = HistoryJoinOk | ErrorAck;", ""]
    out += jsdoc(
        [
            "The positions an event sent to history rooms carries after its payload, by room name:",
            '`socket.on("message", (payload, positions) => ...)`.',
        ]
    )
    out += ["export type RoomPositions = { [room: string]: StreamPosition };", ""]
    out += jsdoc(
        [
            "Keeps the last position of each history room (in `sessionStorage` by default), so a page that",
            "reloads or reconnects rejoins with `since` and gets exactly what it missed, or `recovered: false`.",
            "Call `remember` with each event's `positions` and each join ack's `{ [ack.room]: ack.position }`.",
        ]
    )
    return [
        *out,
        "export function positionStore(",
        '  storage: Pick<Storage, "getItem" | "setItem"> = sessionStorage,',
        '  key = "eventbus:positions",',
        ") {",
        '  const read = (): RoomPositions => JSON.parse(storage.getItem(key) ?? "{}") as RoomPositions;',
        "  return {",
        "    since(room: string): StreamPosition | undefined {",
        "      return read()[room];",
        "    },",
        "    remember(positions: unknown): void {",
        '      if (positions === null || typeof positions !== "object") return;',
        "      storage.setItem(key, JSON.stringify({ ...read(), ...(positions as RoomPositions) }));",
        "    },",
        "  };",
        "}",
        "",
    ]


def room_pattern(room: RoomSpec) -> str:
    """``chat:{chat_id}``: the prefix and a placeholder per key.

    Example:
        >>> from codegen.spec import RoomSpec
        >>> from events import UserRoom
        >>> room_pattern(RoomSpec("user", UserRoom, ("user_id",)))
        'user:{user_id}'
    """
    return ":".join([room.prefix, *(f"{{{key}}}" for key in room.keys)])


def _room_helper(writer: TypeWriter, bundle: dict[str, Any], room: RoomSpec) -> list[str]:
    target = ref_name(bundle["rooms"][room.prefix])
    schema = bundle["$defs"][target] if target else {}
    name = f"{camel_case(room.prefix)}Room"
    doc = jsdoc([f"The room name `{room_pattern(room)}`."])
    if not room.keys:
        return [*doc, f"export function {name}(): {literal(room.prefix)} {{", f"  return {literal(room.prefix)};", "}"]
    required = set(schema.get("required", []))
    parts = []
    for key in room.keys:
        value = f"keys.{key}" if _IDENTIFIER.fullmatch(key) else f"keys[{json.dumps(key)}]"
        prop = schema.get("properties", {}).get(key, {})
        if key not in required and "default" in prop:
            value = f"{value} ?? {json.dumps(prop['default'])}"
        parts.append(f"${{String({value})}}")
    template = ":".join([room.prefix.replace("$", "\\$"), *parts])
    kind = ":".join([room.prefix, *("${string}" for _ in room.keys)])
    return [
        *doc,
        f"export function {name}(keys: {writer.names[target] if target else 'never'}): `{kind}` {{",
        f"  return `{template}`;",
        "}",
    ]


def room_name_type(room: RoomSpec) -> str:
    """The TypeScript type of a room's names: ```chat:${string}``` (or ``"status"`` for a room without keys).

    Example:
        >>> from codegen.spec import RoomSpec
        >>> from events import UserRoom
        >>> room_name_type(RoomSpec("user", UserRoom, ("user_id",)))
        '`user:${string}`'
    """
    if not room.keys:
        return literal(room.prefix)
    return "`" + ":".join([room.prefix.replace("$", "\\$"), *("${string}" for _ in room.keys)]) + "`"


def info_type(writer: TypeWriter, bundle: dict[str, Any], room: RoomSpec) -> str:
    """The type of ``info`` of a presence room's members: what its ``presence_info`` returns."""
    # The default presence_info always sends {}: a type on which `info.name` does not compile.
    return "Record<never, never>" if room.info is None else writer.type_of(bundle["presence_info"][room.prefix])


_PRESENCE_HELPERS = """\
/** A member of a presence room with the given prefix: `info` is what that room's `presence_info` returns. */
export interface PresenceMemberIn<P extends keyof PresenceInfo> {
  user_id: string;
  info: PresenceInfo[P];
}

/** `presence_join` / `presence_leave`, one variant per presence room: narrow it with `presenceIn(event, prefix)`. */
export type PresenceEventIn<P extends keyof PresenceInfo = keyof PresenceInfo> = {
  [K in P]: { room: PresenceRoomName[K]; member: PresenceMemberIn<K> };
}[P];

/** The data of the `presence` ack, one variant per presence room: narrow it with `presenceIn(list, prefix)`. */
export type PresenceListIn<P extends keyof PresenceInfo = keyof PresenceInfo> = {
  [K in P]: { room: PresenceRoomName[K]; members: PresenceMemberIn<K>[] };
}[P];

/** The ack of a join to the presence room with the given prefix: `{ ok: true, room, members }`, or why not. */
export type PresenceJoinAckIn<P extends keyof PresenceInfo> =
  | { ok: true; room: PresenceRoomName[P]; members: PresenceMemberIn<P>[] }
  | ErrorAck;

/** Whether a presence event or list is about a room with the given prefix (then its `info` is typed for it). */
export function presenceIn<T extends { room: string }, P extends keyof PresenceInfo>(
  value: T,
  prefix: P,
): value is Extract<T, { room: PresenceRoomName[P] }> {
  return value.room === prefix || value.room.startsWith(`${prefix}:`);
}
"""


_HISTORY_PRESENCE = """\
/** The ack of a join to a presence room that also keeps history: `HistoryJoinOk` with its members typed. */
export type HistoryPresenceJoinAckIn<P extends keyof PresenceInfo> =
  | (Omit<HistoryJoinOk, "room" | "members"> & { room: PresenceRoomName[P]; members: PresenceMemberIn<P>[] })
  | ErrorAck;
"""


def _presence_types(writer: TypeWriter, bundle: dict[str, Any], spec: Spec) -> list[str]:
    rooms = [room for room in spec.joinable_rooms if room.presence]
    out = jsdoc(["The `info` of presence members, by room prefix: what each room's `presence_info` returns."])
    out += ["export interface PresenceInfo {"]
    out += [f"  {property_key(room.prefix)}: {info_type(writer, bundle, room)};" for room in rooms]
    out += ["}", "", *jsdoc(["The names of each presence room, by prefix."]), "export interface PresenceRoomName {"]
    out += [f"  {property_key(room.prefix)}: {room_name_type(room)};" for room in rooms]
    both = any(room.history for room in rooms)
    return [*out, "}", "", _PRESENCE_HELPERS, *([_HISTORY_PRESENCE] if both else [])]


def _typed_presence(spec: Spec) -> tuple[dict[str, str], dict[str, str]]:
    # Payloads and acks that carry presence members, typed per room instead of with a bare `info` object.
    payloads: dict[str, str] = {}
    acks: dict[str, str] = {}
    if spec.has_presence:
        payloads = {event.name: "PresenceEventIn" for event in spec.server_events if event.model in _PRESENCE_EVENTS}
        acks = {event.name: "EventAck<PresenceListIn>" for event in spec.client_events if event.model is PresenceQuery}
        for room in (room for room in spec.joinable_rooms if room.presence):
            kind = "HistoryPresenceJoinAckIn" if room.history else "PresenceJoinAckIn"
            acks[room.join_event] = f"{kind}<{literal(room.prefix)}>"
    return payloads, acks


def render_typescript(spec: Spec, bundle: dict[str, Any] | None = None) -> str:
    """``events.ts`` for ``spec``, from its schema bundle (computed when not given).

    Example:
        >>> from codegen.spec import build_spec
        >>> from events import UserRoom
        >>> ts = render_typescript(build_spec([], [], [UserRoom], modules=["app"]))
        >>> "export function userRoom(keys: UserRoom): `user:${string}` {" in ts
        True
    """
    bundle = bundle if bundle is not None else json_schema(spec)
    writer = TypeWriter(bundle["$defs"])
    out = [f"// {spec.header}", ""]
    if holds_binary(bundle):
        out += [_BINARY_TYPES]
    for key in sorted(bundle["$defs"], key=lambda k: writer.names[k]):
        out += [*_definition(writer, key, bundle["$defs"][key]), ""]

    out += jsdoc(["The ack of a join or leave: `{ ok: true, room }`, or why it was refused."])
    out += ["export type JoinAck = JoinOk | ErrorAck;", ""]
    if spec.has_presence:
        out += jsdoc(["The ack of a join to a presence room: `{ ok: true, room, members }`, or why it was refused."])
        out += ["export type PresenceJoinAck = PresenceJoinOk | ErrorAck;", ""]
    if spec.has_history:
        out += _history_helpers()
    out += jsdoc(["The ack of a client event: `{ ok: true, data }`, or why it was refused."])
    out += ["export type EventAck<T> = { ok: true; data: T } | ErrorAck;", ""]
    out += jsdoc(["The ack of a client event whose success carries no data."])
    out += ["export type EmptyAck = { ok: true } | ErrorAck;", ""]
    if spec.has_presence:
        out += _presence_types(writer, bundle, spec)
    typed_payloads, typed_acks = _typed_presence(spec)

    out += jsdoc(["Events the server sends: `socket.on(name, (payload) => ...)`."])
    out.append("export interface ServerToClientEvents {")
    for name, payload in bundle["server_to_client"].items():
        out += jsdoc(_description(bundle, payload), "  ")
        kind = typed_payloads.get(name) or writer.type_of(payload)
        extra = ", positions?: RoomPositions" if spec.has_history else ""
        out.append(f"  {property_key(name)}: (payload: {kind}{extra}) => void;")
    out += ["}", ""]

    out += jsdoc(["Events clients send, each answered by an ack: `socket.emit(name, payload, (ack) => ...)`."])
    out.append("export interface ClientToServerEvents {")
    handlers = {room.join_event: ("Join", room) for room in spec.joinable_rooms}
    handlers |= {room.leave_event: ("Leave", room) for room in spec.joinable_rooms}
    sending = writer.using(BINARY_OUT)
    for name, payload in bundle["client_to_server"].items():
        ack = typed_acks.get(name) or _ack_type(writer, bundle["acks"][name])
        verb, room = handlers.get(name, ("", None))
        out += jsdoc([f"{verb} the room `{room_pattern(room)}`."] if room else _description(bundle, payload), "  ")
        kind = sending.type_of(payload)
        if room is not None and room.history and verb == "Join":
            kind = f"{kind} & {{ since?: StreamPosition | null }}"
        out.append(f"  {property_key(name)}: (payload: {kind}, callback: (ack: {ack}) => void) => void;")
    out += ["}", ""]

    for room in spec.rooms:
        out += [*_room_helper(writer, bundle, room), ""]
    return "\n".join(out).rstrip("\n") + "\n"
