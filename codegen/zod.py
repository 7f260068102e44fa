"""``events.zod.ts``: zod schemas that check at run time what ``events.ts`` only types, and a socket wrapper using them.

One schema per definition of the bundle (constraints kept), the maps from wire
name to schema for both directions and for acks, each checked by ``satisfies``
against the types of ``events.ts``, and ``validateSocket``, which parses
every incoming event and ack before a listener sees it. zod 4 is a peer
dependency of this file only; ``events.ts`` imports nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from codegen._zod_template import BINARY, DISTINCT, HELPER, LENGTH
from codegen.jsonschema import holds_binary, is_binary, json_schema, ref_name
from codegen.typescript import BINARY_IN, TypeWriter, jsdoc, literal, property_key
from events import PresenceJoinEvent, PresenceLeaveEvent, PresenceQuery

if TYPE_CHECKING:
    from codegen.spec import RoomSpec, Spec

_SCALARS = {"string": "z.string()", "boolean": "z.boolean()", "null": "z.null()"}
_NUMBER_BOUNDS = {"minimum": "gte", "maximum": "lte", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}


def _key(name: str) -> str:
    # A "__proto__" key in an object literal sets the prototype instead of defining a property.
    return '["__proto__"]' if name == "__proto__" else property_key(name)


class ZodWriter:
    """Turns JSON Schema fragments of one bundle into zod expressions.

    References to a definition not yet written (recursive models) become
    ``z.lazy``; those definitions are annotated with their ``events.ts`` type.

    Example:
        >>> ZodWriter({"Tag": {}}).zod_of({"type": "array", "items": {"$ref": "#/$defs/Tag"}, "maxItems": 3})
        'z.array(TagSchema).max(3)'
    """

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        writer = TypeWriter(defs)
        self.types = writer.names
        self.generic = writer.generic
        self.order, self.recursive = _definition_order(defs)
        self.written: set[str] = set(defs)

    def const(self, key: str) -> str:
        """The name of the exported schema of a definition: its ``events.ts`` type name plus ``Schema``."""
        return f"{self.types[key]}Schema"

    def zod_of(self, schema: Any) -> str:
        """The zod expression accepting what ``schema`` accepts."""
        if not isinstance(schema, dict):
            return "z.never()" if schema is False else "z.unknown()"
        target = ref_name(schema)
        if target is not None:
            return self.const(target) if target in self.written else f"z.lazy(() => {self.const(target)})"
        if "const" in schema:
            return f"z.literal({literal(schema['const'])})"
        if "enum" in schema:
            return _enum(schema["enum"])
        if "discriminator" in schema and "oneOf" in schema:
            return self._discriminated(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(schema[key])
        if "allOf" in schema:
            parts = [self.zod_of(part) for part in schema["allOf"]]
            return parts[0] + "".join(f".and({part})" for part in parts[1:])
        return self._typed(schema)

    def _typed(self, schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([{**schema, "type": one} for one in kind])
        if is_binary(schema):
            return "binary"
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema)
        if kind == "array":
            return self._array(schema)
        if kind == "object":
            return self.object_of(schema)
        return _SCALARS.get(str(kind), "z.unknown()")

    def _union(self, options: list[Any]) -> str:
        nulls = [option for option in options if isinstance(option, dict) and option.get("type") == "null"]
        others = [self.zod_of(option) for option in options if option not in nulls]
        unique = list(dict.fromkeys(others))
        if nulls and len(unique) == 1:
            return f"{unique[0]}.nullable()"
        unique += ["z.null()"] if nulls else []
        if not unique:
            return "z.never()"
        return unique[0] if len(unique) == 1 else f"z.union([{', '.join(unique)}])"

    def _discriminated(self, schema: dict[str, Any]) -> str:
        targets = [ref_name(option) for option in schema["oneOf"]]
        # zod needs each option's object schema up front: a lazy or annotated (recursive) one forces a plain union.
        if any(t is None or t in self.recursive or t not in self.written for t in targets):
            return self._union(schema["oneOf"])
        options = ", ".join(self.const(str(target)) for target in targets)
        return f"z.discriminatedUnion({json.dumps(schema['discriminator']['propertyName'])}, [{options}])"

    def _array(self, schema: dict[str, Any]) -> str:
        if "prefixItems" in schema:
            items = ", ".join(self.zod_of(item) for item in schema["prefixItems"])
            rest = schema.get("items", schema.get("maxItems") != len(schema["prefixItems"]))
            tail = "" if rest is False else f", {self.zod_of(rest)}"
            return f"z.tuple([{items}]{tail})"
        out = f"z.array({self.zod_of(schema.get('items', True))})"
        if "minItems" in schema:
            out += f".min({schema['minItems']})"
        if "maxItems" in schema:
            out += f".max({schema['maxItems']})"
        if schema.get("uniqueItems"):
            out += '.refine(distinct, "must not repeat an item")'
        return out

    def object_of(self, schema: dict[str, Any], indent: str | None = None) -> str:
        """``z.strictObject({...})`` when extra keys are forbidden, ``z.looseObject`` when kept, else ``z.object``.

        With ``indent``, one field a line (for a definition); else on one line.
        """
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not properties:
            if extra is False:
                return "z.strictObject({})"
            return f"z.record(z.string(), {self.zod_of(True if extra is None else extra)})"
        required = set(schema.get("required", []))
        fields = []
        for name, prop in properties.items():
            value = self.zod_of(prop)
            if name not in required:
                has_default = isinstance(prop, dict) and "default" in prop
                value += f".default({json.dumps(prop['default'])})" if has_default else ".optional()"
            fields.append(f"{_key(name)}: {value}")
        if indent is not None:
            shape = "{\n" + "".join(f"{indent}  {field},\n" for field in fields) + indent + "}"
        else:
            shape = "{ " + ", ".join(fields) + " }"
        if extra is False:
            return f"z.strictObject({shape})"
        if extra is True:
            return f"z.looseObject({shape})"
        if isinstance(extra, dict):
            return f"z.object({shape}).catchall({self.zod_of(extra)})"
        return f"z.object({shape})"

    def definition(self, key: str) -> list[str]:
        """``export const XSchema = ...;`` for one definition, written after those it refers to."""
        schema = self.defs[key]
        lines = jsdoc(str(schema.get("description", "")).splitlines()) if isinstance(schema, dict) else []
        self.written.add(key)
        is_object = isinstance(schema, dict) and schema.get("type") == "object" and "$ref" not in schema
        plain = is_object and not any(k in schema for k in ("anyOf", "oneOf", "allOf"))
        expression = self.object_of(schema, "") if plain and schema.get("properties") else self.zod_of(schema)
        if key in self.recursive:
            generic = f"<T.{BINARY_IN}>" if key in self.generic else ""
            kind = f"z.ZodType<T.{self.types[key]}{generic}>"
            return [*lines, f"export const {self.const(key)}: {kind} = z.lazy(() => {expression});"]
        return [*lines, f"export const {self.const(key)} = {expression};"]

    def write_all(self) -> list[str]:
        """Every definition, in an order where each refers only to those before it (or lazily)."""
        self.written = set()
        out: list[str] = []
        for key in self.order:
            out += [*self.definition(key), ""]
        return out


def _enum(values: list[Any]) -> str:
    if values and all(isinstance(value, str) for value in values):
        return f"z.enum([{', '.join(literal(value) for value in values)}])"
    options = [f"z.literal({literal(value)})" for value in values]
    return options[0] if len(options) == 1 else f"z.union([{', '.join(options)}])"


def _string(schema: dict[str, Any]) -> str:
    out = "z.string()"
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        # pydantic counts code points; a JavaScript string's length counts UTF-16 units (an emoji is 2).
        bounds = f"{low or 0}, {'Infinity' if high is None else high}"
        out += f'.refine(length({bounds}), "must have {_between(low, high)} characters")'
    if "pattern" in schema:
        pattern = json.dumps(js_pattern(schema["pattern"]))
        out += f'.regex(new RegExp({pattern}, "u"), {json.dumps("must match " + schema["pattern"])})'
    return out


_CLASSES = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"\p{L}\p{M}\p{Nd}\p{Pc}"}


def js_pattern(pattern: str) -> str:
    r"""A pydantic pattern as a JavaScript one (``u`` flag) that matches the same strings.

    Rust's (pydantic's) and Python's ``\d`` and ``\w`` are Unicode classes (``"٣"`` is a digit); JavaScript's
    are ASCII only, so they become the Unicode properties they stand for.

    Example:
        >>> print(js_pattern(r"^\d{3}[\w-]+$"))
        ^\p{Nd}{3}[\p{L}\p{M}\p{Nd}\p{Pc}-]+$
    """
    out: list[str] = []
    in_class = False
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped in _CLASSES:
                word = escaped == "w"
                out.append(_CLASSES[escaped] if in_class or not word else f"[{_CLASSES[escaped]}]")
            else:
                out.append(char + escaped)
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
    return "".join(out)


def _between(low: int | None, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    if not low:
        return f"at most {high}"
    return f"{low} to {high}" if low != high else str(low)


def _number(schema: dict[str, Any]) -> str:
    out = "z.number().int()" if schema.get("type") == "integer" else "z.number()"
    for key, method in _NUMBER_BOUNDS.items():
        if key in schema:
            out += f".{method}({json.dumps(schema[key])})"
    if "multipleOf" in schema:
        out += f".multipleOf({json.dumps(schema['multipleOf'])})"
    return out


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        target = ref_name(schema)
        found = [target] if target is not None else []
        return found + [name for value in schema.values() for name in _refs(value)]
    if isinstance(schema, list):
        return [name for value in schema for name in _refs(value)]
    return []


def _definition_order(defs: dict[str, Any]) -> tuple[list[str], set[str]]:
    # Depth-first, dependencies first; a reference back to a definition still being visited is a cycle.
    order: list[str] = []
    recursive: set[str] = set()
    state: dict[str, str] = {}

    def visit(key: str) -> None:
        state[key] = "visiting"
        for target in sorted(set(_refs(defs[key]))):
            if target not in defs:
                continue
            if state.get(target) == "visiting":
                recursive.add(target)
            elif target not in state:
                visit(target)
        state[key] = "done"
        order.append(key)

    for key in sorted(defs):
        if key not in state:
            visit(key)
    return order, recursive


def _room_name(room: RoomSpec) -> str:
    if not room.keys:
        return f"z.literal({literal(room.prefix)})"
    parts = [literal(f"{room.prefix}:"), "z.string()"]
    for _ in room.keys[1:]:
        parts += ['":"', "z.string()"]
    return f"z.templateLiteral([{', '.join(parts)}])"


def _presence(writer: ZodWriter, bundle: dict[str, Any], spec: Spec) -> tuple[list[str], dict[str, str]]:
    """The presence maps, and the schemas that replace the bare ones of presence events and acks, by wire name."""
    rooms = [room for room in spec.joinable_rooms if room.presence]
    if not rooms:
        return [], {}
    out = [*jsdoc(["The members of each presence room, by prefix: `info` is what its `presence_info` returns."])]
    out.append("export const presenceMembers = {")
    for room in rooms:
        info = "z.strictObject({})" if room.info is None else writer.zod_of(bundle["presence_info"][room.prefix])
        out.append(f"  {room.prefix}: z.object({{ user_id: z.string(), info: {info} }}),")
    out += ["};", "", *jsdoc(["The names of each presence room, by prefix."]), "export const presenceRooms = {"]
    out += [f"  {room.prefix}: {_room_name(room)}," for room in rooms]
    out += ["};", ""]

    def each(name: str, fields: str, doc: str) -> list[str]:
        options = [fields.format(p=room.prefix) for room in rooms]
        value = options[0] if len(options) == 1 else "z.union([\n" + "".join(f"  {o},\n" for o in options) + "])"
        return [*jsdoc([doc]), f"export const {name} = {value};", ""]

    members = "room: presenceRooms.{p}, members: z.array(presenceMembers.{p})"
    out += each(
        "presenceEvent",
        "z.strictObject({{ room: presenceRooms.{p}, member: presenceMembers.{p} }})",
        "`presence_join` and `presence_leave`: one variant per presence room.",
    )
    out += each(
        "presenceList", f"z.object({{{{ {members} }}}})", "The data of the `presence` ack: one per presence room."
    )
    replaced = {
        e.name: "presenceEvent" for e in spec.server_events if e.model in (PresenceJoinEvent, PresenceLeaveEvent)
    }
    for e in spec.client_events:
        if e.model is PresenceQuery:
            replaced[e.name] = _either("z.strictObject({ ok: z.literal(true), data: presenceList })")
    for room in rooms:
        joined = members.format(p=room.prefix)
        # A room that also keeps history acks a HistoryJoinOk (recovered, position, publications) with the members.
        plain = f"z.object({{ ok: z.literal(true), {joined} }})"
        history = f"{writer.const('HistoryJoinOk')}.extend({{ {joined} }})"
        replaced[room.join_event] = _either(history if room.history else plain)
    return out, replaced


def _either(success: str) -> str:
    return f'z.discriminatedUnion("ok", [{success}, ErrorAckSchema])'


def _ack(writer: ZodWriter, schema: dict[str, Any]) -> str:
    # Every ack is a success or an ErrorAck, told apart by "ok": zod then reports the issues of the right one.
    success, error = (writer.zod_of(option) for option in schema["anyOf"])
    return f'z.discriminatedUnion("ok", [{success}, {error}])'


def _wire_map(
    writer: ZodWriter, name: str, schemas: dict[str, Any], check: str, doc: str, replaced: dict[str, str]
) -> list[str]:
    lines = [*jsdoc([doc]), f"export const {name} = {{"]
    for event, schema in schemas.items():
        value = _ack(writer, schema) if name == "acks" else writer.zod_of(schema)
        value = replaced.get(event, value)
        lines.append(f"  {property_key(event)}: {value},")
    return [*lines, f"}} satisfies {check};", ""]


def render_zod(spec: Spec, bundle: dict[str, Any] | None = None) -> str:
    """``events.zod.ts`` for ``spec``, from its schema bundle (computed when not given).

    Example:
        >>> from codegen.spec import build_spec
        >>> from events import UserRoom
        >>> ts = render_zod(build_spec([], [], [UserRoom], modules=["app"]))
        >>> print(ts[ts.index("export const UserRoomSchema"):].split(";")[0])
        export const UserRoomSchema = z.strictObject({
          user_id: z.string(),
        })
    """
    bundle = bundle if bundle is not None else json_schema(spec)
    writer = ZodWriter(bundle["$defs"])
    out = writer.write_all()
    presence, replaced = _presence(writer, bundle, spec)
    out += presence
    out += _wire_map(
        writer,
        "serverToClient",
        bundle["server_to_client"],
        "{ [E in keyof T.ServerToClientEvents]: z.ZodType<Parameters<T.ServerToClientEvents[E]>[0]> }",
        "The schema of each event the server sends, by wire name.",
        replaced,
    )
    out += _wire_map(
        writer,
        "clientToServer",
        bundle["client_to_server"],
        "{ [E in keyof T.ClientToServerEvents]: z.ZodType<unknown, Parameters<T.ClientToServerEvents[E]>[0]> }",
        "The schema of each event clients send, by wire name (what the server checks on arrival).",
        {},
    )
    out += _wire_map(
        writer,
        "acks",
        bundle["acks"],
        "{ [E in keyof T.ClientToServerEvents]: z.ZodType<Ack<T.ClientToServerEvents[E]>> }",
        "The schema of the ack each client event gets back, by the client event's wire name.",
        replaced,
    )
    body = "\n".join(out)
    head = [f"// {spec.header}", 'import { z } from "zod";', 'import type { Socket } from "socket.io-client";']
    head += ['import type * as T from "./events";', ""]
    head += [BINARY] if holds_binary(bundle) else []
    head += [LENGTH] if "refine(length(" in body else []
    head += [DISTINCT] if "refine(distinct," in body else []
    return "\n".join([*head, body, HELPER]).rstrip("\n") + "\n"
