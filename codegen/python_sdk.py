"""``client/``: a Python SDK package, models by datamodel-code-generator plus a small typed client.

``client/models.py`` is generated from the schema bundle (pydantic v2 models);
``client/client.py`` wraps ``socketio.AsyncClient`` with ``on(Model)``
registration and one coroutine per join, leave and client event, each returning
its typed ack or raising ``RequestRefused``.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from typing import TYPE_CHECKING, Any

from codegen._sdk_template import CLIENT_HEAD
from codegen.exceptions import CodegenError, NameCollisionError
from codegen.jsonschema import is_binary, json_schema, ref_name
from codegen.typescript import room_pattern, ts_identifier
from events import PresenceJoinEvent, PresenceLeaveEvent, PresenceQuery
from events._extras import require

if TYPE_CHECKING:
    from codegen.spec import ClientEventSpec, RoomSpec, Spec

_FORMATS = {
    "date-time": ("datetime", "from datetime import datetime"),
    "date": ("date", "from datetime import date"),
    "time": ("time", "from datetime import time"),
    "uuid": ("UUID", "from uuid import UUID"),
}
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
# Names the generated methods' bodies and the client's own API use.
_TAKEN_PARAMS = frozenset({"self", "models", "fields", "payload", "reply"})
_LINE = 120
_CLIENT_ATTRIBUTES = frozenset(
    {"auth", "connect", "disconnect", "namespace", "on", "sio", "timeout", "url"} | set(dir(object))
)


def _strip_titles(schema: Any) -> Any:
    # pydantic titles every property ("Task Id"); datamodel-code-generator would copy them all into Field(title=...).
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strip_titles(value) for key, value in schema.items() if key != "properties"}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {
            name: {k: _strip_titles(v) for k, v in prop.items() if k != "title"} if isinstance(prop, dict) else prop
            for name, prop in schema["properties"].items()
        }
    return out


def render_models(spec: Spec, bundle: dict[str, Any]) -> str:
    """``client/models.py``: pydantic v2 models for every definition of the bundle.

    Extra keys are ignored, so a server that adds a field does not break older clients.
    """
    # Imported here: datamodel-code-generator takes a second to import, only this target needs it, and it comes
    # with the `codegen` extra, which a server's install leaves out.
    require("datamodel_code_generator", "codegen", feature="the Python SDK target (--target python)")
    from datamodel_code_generator import DatetimeClassType, InputFileType, LiteralType, PythonVersion, generate
    from datamodel_code_generator.enums import DataModelType
    from datamodel_code_generator.format import Formatter

    source = generate(
        json.dumps({"$defs": _strip_titles(bundle["$defs"])}),
        input_file_type=InputFileType.JsonSchema,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        custom_file_header=f"# {spec.header}",
        disable_timestamp=True,
        formatters=[Formatter.BUILTIN],
        # pydantic writes naive datetimes without an offset; AwareDatetime would reject them.
        output_datetime_class=DatetimeClassType.Datetime,
        enum_field_as_literal=LiteralType.All,
        use_type_alias=True,
        strict_nullable=True,
        extra_fields="ignore",
        snake_case_field=True,
        allow_population_by_field_name=True,
        skip_root_model=True,
        use_annotated=True,
        use_double_quotes=True,
        use_union_operator=True,
        use_standard_collections=True,
        use_schema_description=True,
        use_field_description=True,
    )
    if not isinstance(source, str):
        raise CodegenError(f"datamodel-code-generator returned {type(source).__name__}, expected one module")
    return source


def model_names(source: str) -> set[str]:
    """Names defined at the top level of a generated module (classes and type aliases).

    Example:
        >>> sorted(model_names("class A: ...\\nB = int\\n"))
        ['A', 'B']
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


class PythonTypes:
    """Python annotations, in terms of the generated ``models`` module, for JSON Schema fragments.

    Example:
        >>> PythonTypes({"Tag": "Tag"}).annotation({"type": "array", "items": {"$ref": "#/$defs/Tag"}})
        'list[models.Tag]'
    """

    def __init__(self, classes: dict[str, str]) -> None:
        self.classes = classes
        self.imports: set[str] = set()

    def annotation(self, schema: Any) -> str:
        """The annotation for values ``schema`` accepts; ``Any`` where it cannot say more."""
        if not isinstance(schema, dict):
            return "Any"
        target = ref_name(schema)
        if target is not None:
            return f"models.{self.classes[target]}" if target in self.classes else "Any"
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            if all(value is None or isinstance(value, str | int | bool) for value in values):
                self.imports.add("from typing import Literal")
                return f"Literal[{', '.join(json.dumps(v) if isinstance(v, str) else repr(v) for v in values)}]"
            return "Any"
        options = schema.get("anyOf", schema.get("oneOf"))
        if options is not None:
            return " | ".join(dict.fromkeys(self.annotation(option) for option in options))
        kind = schema.get("type")
        if kind == "array":
            if "prefixItems" in schema:
                return f"tuple[{', '.join(self.annotation(item) for item in schema['prefixItems'])}]"
            return f"list[{self.annotation(schema.get('items', True))}]"
        if kind == "object" and "properties" not in schema:
            return f"dict[str, {self.annotation(schema.get('additionalProperties', True))}]"
        if is_binary(schema):
            return "bytes"
        if kind == "string" and schema.get("format") in _FORMATS:
            name, line = _FORMATS[schema["format"]]
            self.imports.add(line)
            return name
        return _SCALARS.get(str(kind), "Any")


def python_name(wire_name: str) -> str:
    """A method name for a wire name (``project.renamed`` -> ``project_renamed``).

    Example:
        >>> python_name("chat.message-sent")
        'chat_message_sent'
    """
    name = re.sub(r"\W", "_", wire_name)
    return f"{name}_" if keyword.iskeyword(name) else name


def _definition(bundle: dict[str, Any], payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    target = ref_name(payload)
    if target is None:
        raise CodegenError(f"expected a reference to a model, got {payload!r}")
    return target, bundle["$defs"][target]


def _parameters(types: PythonTypes, schema: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    """Keyword-only parameters and the payload dict entries, or ``None`` when a key is no Python name."""
    required = set(schema.get("required", []))
    params: list[str] = []
    entries: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        if not name.isidentifier() or keyword.iskeyword(name) or name in _TAKEN_PARAMS or name.startswith("_"):
            return None
        annotation = types.annotation(prop)
        params.append(f"{name}: {annotation}" if name in required else f"{name}: {annotation} | Unset = UNSET")
        entries.append(f"{json.dumps(name)}: {name}")
    params.sort(key=lambda param: param.endswith("= UNSET"))
    return params, entries


def _wrapped(head: str, items: list[str], tail: str, indent: str) -> list[str]:
    """``head + items + tail`` on one line when it fits in 120 columns, else one item per line."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= _LINE or not items:
        return [line]
    return [f"{indent}{head}", *(f"{indent}    {item}," for item in items), f"{indent}{tail}"]


def _method(name: str, params: list[str], returns: str) -> list[str]:
    items = ["self", *(["*", *params] if params else [])]
    return _wrapped(f"async def {name}(", items, f") -> {returns}:", "    ")


def _payload(types: PythonTypes, model: str, schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The parameters after ``self`` and the lines that build ``payload``, the validated model."""
    found = _parameters(types, schema)
    if found is None:
        return [f"payload: models.{model}"], []
    params, entries = found
    return params, [
        *_wrapped("fields: dict[str, Any] = {", entries, "}", "        "),
        f"        payload = models.{model}.model_validate(_given(fields))",
    ]


def _positional(params: list[str]) -> bool:
    return params[:1] != [] and params[0].startswith("payload: ")


def _docstring(text: str, indent: str = "        ") -> list[str]:
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = [line.rstrip() for line in escaped.strip().splitlines()]
    if not lines:
        return []
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}" if line else "" for line in lines[1:]), f'{indent}"""']


class _ClientWriter:
    def __init__(self, spec: Spec, bundle: dict[str, Any], classes: dict[str, str]) -> None:
        self.spec = spec
        self.bundle = bundle
        self.classes = classes
        self.types = PythonTypes(classes)
        self.adapters: list[str] = []
        self.methods: dict[str, str] = {}
        self.body: list[str] = []
        queries = [event.name for event in spec.client_events if event.model is PresenceQuery]
        self.presence_query = queries[0] if queries else None

    def model(self, target: str) -> str:
        name = self.classes.get(target)
        if name is None:
            raise CodegenError(f"datamodel-code-generator wrote no model for {target!r}; rename the class")
        return name

    def add_method(self, name: str, wire: str, lines: list[str]) -> None:
        if name in _CLIENT_ATTRIBUTES or name.startswith("_"):
            raise NameCollisionError(f"{wire!r} would be the SDK method {name}(), which the client uses itself")
        if name in self.methods:
            raise NameCollisionError(f"{wire!r} and {self.methods[name]!r} would both be the SDK method {name}()")
        self.methods[name] = wire
        self.body += ["", *lines]

    def room_methods(self, room: RoomSpec) -> None:
        target, schema = _definition(self.bundle, self.bundle["rooms"][room.prefix])
        params, build = _payload(self.types, self.model(target), schema)
        if _positional(params):
            params = ["room: " + params[0].removeprefix("payload: ")]
            build = ["        payload = room"]
        pattern = room_pattern(room)
        for verb, event in (("Join", room.join_event), ("Leave", room.leave_event)):
            doc = f"{verb} the room ``{pattern}``; raises `RequestRefused` when the server says no."
            returns, call = "models.JoinOk", f"await self._join({json.dumps(event)}, payload)"
            if room.presence and verb == "Join":
                doc += "\n\nThe ack's ``members`` are everyone in the room now, the caller included."
                returns = f"{presence_class(room)}JoinOk"
                call = f"{returns}.model_validate(await self._request({json.dumps(event)}, payload))"
            extra: list[str] = []
            if room.history and verb == "Join":
                doc += (
                    "\n\n``since`` (a position from an earlier ack or event) asks for the events missed since:"
                    " the ack says ``recovered`` and holds them, or none when they are not all kept."
                )
                returns = f"{presence_class(room)}JoinOk" if room.presence else "models.HistoryJoinOk"
                call = f"{returns}.model_validate(await self._request({json.dumps(event)}, request))"
                extra = [
                    "        request: BaseModel | dict[str, Any] = payload",
                    "        if since is not None:",
                    '            keys = payload.model_dump(mode="json", by_alias=True)',
                    '            request = {**keys, "since": since.model_dump()}',
                ]
            method_params = [*params, "since: models.StreamPosition | None = None"] if extra else params
            body = [*build, *extra, f"        return {call}"]
            self.add_method(event, event, [*_method(event, method_params, returns), *_docstring(doc), *body])
        if room.presence and self.presence_query is not None:
            name, returns = f"presence_{room.prefix}", f"{presence_class(room)}List"
            doc = (
                f"Who is in a ``{room.prefix}`` room now, their ``info`` typed; ``room`` from ``{room.prefix}_room()``."
            )
            query = f"models.{self.model('PresenceQuery')}(room=room)"
            call = f"await self._request({json.dumps(self.presence_query)}, {query})"
            body = [f"        reply = {call}", f'        return {returns}.model_validate(reply.get("data"))']
            self.add_method(name, name, [*_method(name, ["room: str"], returns), *_docstring(doc), *body])

    def event_method(self, event: ClientEventSpec) -> None:
        target, schema = _definition(self.bundle, self.bundle["client_to_server"][event.name])
        params, build = _payload(self.types, self.model(target), schema)
        data = self.bundle["acks"][event.name]["anyOf"][0]["properties"].get("data")
        name = python_name(event.name)
        doc = str(schema.get("description") or f"Send ``{event.name}`` and wait for its ack.")
        doc += "\n\nRaises `RequestRefused` when the server acks with an error."
        call = f"await self._request({json.dumps(event.name)}, payload)"
        if data is None:
            returns, body = "None", [f"        {call}"]
        elif ref_name(data) is not None:
            returns = self.types.annotation(data)
            body = [f"        reply = {call}", f'        return {returns}.model_validate(reply.get("data"))']
        else:
            returns = self.types.annotation(data)
            adapter = f"_{name.upper()}_ACK"
            self.adapters.append(f"{adapter}: TypeAdapter[{returns}] = TypeAdapter({returns})")
            body = [f"        reply = {call}", f'        return {adapter}.validate_python(reply.get("data"))']
        self.add_method(name, event.name, [*_method(name, params, returns), *_docstring(doc), *build, *body])

    def render(self) -> str:
        for room in self.spec.joinable_rooms:
            self.room_methods(room)
        for event in self.spec.client_events:
            self.event_method(event)
        exported = _wrapped("__all__ = [", [json.dumps(name) for name in exported_names(self.spec)], "]", "")
        head = CLIENT_HEAD.format(all="\n".join(exported), namespace=json.dumps(self.spec.app or "/"))
        out = [f"# {self.spec.header}", head.rstrip("\n")]
        if self.types.imports:
            # Placed after the fixed imports, so ordering stays stable whatever the schema needs.
            out += ["", *sorted(self.types.imports)]
        out += ["", ""]
        presence = [room for room in self.spec.joinable_rooms if room.presence]
        for room in presence:
            out += [*self.presence_classes(room), "", ""]
        out += ["SERVER_EVENTS: Final[dict[type[BaseModel], str]] = {"]
        for wire, payload in self.bundle["server_to_client"].items():
            out.append(f"    models.{self.model(_definition(self.bundle, payload)[0])}: {json.dumps(wire)},")
            if wire in self.presence_events:
                verb = self.presence_events[wire]
                out += [f"    {presence_class(room)}{verb}: {json.dumps(wire)}," for room in presence]
        out += ["}", '"""The model of each event the server sends, and its wire name."""', ""]
        out += ["PRESENCE_ROOMS: Final[dict[type[BaseModel], str]] = {"]
        for room in presence:
            pair = [f"{presence_class(room)}{verb}" for verb in sorted(set(self.presence_events.values()))]
            out += [f"    {cls}: {json.dumps(room.prefix)}," for cls in pair]
        out += ["}", '"""The presence events typed for one room class, and the room prefix each is for."""', ""]
        if self.adapters:
            out += [*self.adapters, ""]
        out += ["", "class Client(BaseClient):"]
        out += _docstring(
            "The typed client: ``on(Model)`` for server events, one coroutine per join, leave and client event.",
            "    ",
        )
        out += self.body or ["    pass"]
        for room in self.spec.rooms:
            out += ["", "", *self.room_helper(room)]
        return "\n".join(out) + "\n"

    @property
    def presence_events(self) -> dict[str, str]:
        """``presence_join`` -> ``Join``, ``presence_leave`` -> ``Leave`` (when the spec has them)."""
        verbs = {PresenceJoinEvent: "Join", PresenceLeaveEvent: "Leave"}
        return {event.name: verbs[event.model] for event in self.spec.server_events if event.model in verbs}

    def presence_classes(self, room: RoomSpec) -> list[str]:
        name = presence_class(room)
        schema = self.bundle["presence_info"][room.prefix]
        info = "dict[str, Any]" if room.info is None else self.types.annotation(schema)
        what = "always ``{}``" if room.info is None else f"what ``{room.model.__name__}.presence_info`` returns"
        out = [f"class {name}Member(BaseModel):"]
        out += _docstring(f"A member of a ``{room.prefix}`` room; ``info`` is {what}.", "    ")
        out += ["", "    user_id: str", f"    info: {info}", "", ""]
        base = self.model("HistoryJoinOk" if room.history else "JoinOk")
        out += [f"class {name}JoinOk(models.{base}):"]
        out += _docstring(f"The ack of ``{room.join_event}``: the room and everyone in it now.", "    ")
        # A history room's ack declares members for any presence room; this one narrows them to its own.
        narrowed = "  # type: ignore[assignment]" if room.history else ""
        out += ["", f"    members: list[{name}Member]{narrowed}", "", ""]
        out += [f"class {name}List(BaseModel):"]
        out += _docstring(f"Who is in a ``{room.prefix}`` room: the data of the ``presence`` ack.", "    ")
        out += ["", "    room: str", f"    members: list[{name}Member]"]
        for wire, verb in self.presence_events.items():
            out += ["", "", f"class {name}{verb}(BaseModel):"]
            out += _docstring(f"``{wire}`` in a ``{room.prefix}`` room: ``client.on({name}{verb}, handler)``.", "    ")
            out += ["", "    room: str", f"    member: {name}Member"]
        return out

    def room_helper(self, room: RoomSpec) -> list[str]:
        target, schema = _definition(self.bundle, self.bundle["rooms"][room.prefix])
        props = schema.get("properties", {})
        params = [f"{key}: {self.types.annotation(props.get(key, {}))}" for key in room.keys]
        doc = _docstring(f"The room name ``{room_pattern(room)}``.", "    ")
        if any(not key.isidentifier() or keyword.iskeyword(key) for key in room.keys):
            values = ", ".join([json.dumps(room.prefix), *(f"_key(keys[{json.dumps(key)}])" for key in room.keys)])
            return [
                f"def {room.prefix}_room(room: models.{self.model(target)}) -> str:",
                *doc,
                '    keys = room.model_dump(mode="json", by_alias=True)',
                f'    return ":".join([{values}])',
            ]
        text = ":".join([room.prefix, *(f"{{_key({key})}}" for key in room.keys)])
        return [
            *_wrapped(f"def {room.prefix}_room(", ["*", *params] if params else [], ") -> str:", ""),
            *doc,
            f'    return f"{text}"' if room.keys else f"    return {json.dumps(room.prefix)}",
        ]


def presence_class(room: RoomSpec) -> str:
    """The stem of the classes typed for a presence room: ``sprint_board`` -> ``SprintBoardPresence``.

    Example:
        >>> from codegen.spec import RoomSpec
        >>> from events import UserRoom
        >>> presence_class(RoomSpec("user", UserRoom, ("user_id",)))
        'UserPresence'
    """
    return "".join(word[:1].upper() + word[1:] for word in room.prefix.split("_")) + "Presence"


def exported_names(spec: Spec) -> list[str]:
    """What ``client/client.py`` exports: the client, its helpers, the presence classes, a room-name function a room."""
    helpers = [f"{room.prefix}_room" for room in spec.rooms]
    presence = [room for room in spec.joinable_rooms if room.presence]
    sent = {event.model for event in spec.server_events}
    verbs = [verb for event, verb in ((PresenceJoinEvent, "Join"), (PresenceLeaveEvent, "Leave")) if event in sent]
    classes = [f"{presence_class(room)}{kind}" for room in presence for kind in ("Member", "JoinOk", "List", *verbs)]
    fixed = ["Client", "Handler", "PRESENCE_ROOMS", "RequestRefused", "SERVER_EVENTS", "UNSET", "Unset"]
    return sorted([*fixed, *helpers, *classes])


def render_client(spec: Spec, bundle: dict[str, Any], models_source: str) -> str:
    """``client/client.py`` for ``spec``, naming the classes ``models_source`` defines."""
    defined = model_names(models_source)
    classes = {key: ts_identifier(key) for key in bundle["$defs"] if ts_identifier(key) in defined}
    return _ClientWriter(spec, bundle, classes).render()


def render_python_sdk(spec: Spec, bundle: dict[str, Any] | None = None) -> dict[str, str]:
    """The files of the ``client`` package, by path relative to the output directory.

    Example:
        >>> from codegen.spec import build_spec
        >>> sorted(render_python_sdk(build_spec([], [], [], modules=["app"])))
        ['client/__init__.py', 'client/client.py', 'client/models.py']
    """
    bundle = bundle if bundle is not None else json_schema(spec)
    models = render_models(spec, bundle)
    client = render_client(spec, bundle, models)
    exported = exported_names(spec)
    init = [
        f"# {spec.header}",
        '"""Typed client for these events: ``Client``, the generated ``models`` and room-name helpers."""',
        "",
        "from . import models",
        *_wrapped("from .client import (", exported, ")", ""),
        "",
        *_wrapped("__all__ = [", [json.dumps(name) for name in sorted([*exported, "models"])], "]", ""),
    ]
    return {"client/__init__.py": "\n".join(init) + "\n", "client/client.py": client, "client/models.py": models}
