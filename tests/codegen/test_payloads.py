"""Property: every payload the pydantic models produce is valid for the JSON Schema and type-checks in TypeScript.

Hypothesis builds model instances from the field annotations (at least 100 per
payload type); each dump (what goes on the wire) is validated with
``jsonschema`` against the generated bundle and written as a TypeScript
constant typed through the generated event maps. One ``tsc`` run compiles them all.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import shutil
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from events import Room
from events.acks import error_ack
from events.history import HistoryJoinOk
from events.presence import PresenceJoinEvent, PresenceLeaveEvent, PresenceQuery
from tests.codegen import sample_app
from tests.codegen.conftest import tsc

pytestmark = pytest.mark.node

EXAMPLES = 100
_KEY_TEXT = st.text(st.characters(categories=("L", "N"), include_characters="_-."), min_size=1, max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)


class Strategies:
    """Hypothesis strategies for pydantic field annotations; models recurse through ``st.deferred``."""

    def __init__(self) -> None:
        self.models: dict[type[BaseModel], st.SearchStrategy[BaseModel]] = {}

    def of(self, annotation: Any, *, room_key: bool = False) -> st.SearchStrategy[Any]:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.of(args[0], room_key=room_key)
        if origin in (typing.Union, types.UnionType):
            return st.one_of([self.of(arg) for arg in args])
        if origin is typing.Literal:
            return st.sampled_from(args)
        if origin in (list, set):
            collection = st.lists if origin is list else st.sets
            return collection(self.of(args[0]), max_size=2)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return st.lists(self.of(args[0]), max_size=3).map(tuple)
            return st.tuples(*(self.of(arg) for arg in args))
        if origin is dict:
            return st.dictionaries(st.text(max_size=6), self.of(args[1]), max_size=3)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.model(annotation)
        return self.leaf(annotation, room_key=room_key)

    @staticmethod
    def leaf(annotation: Any, *, room_key: bool) -> st.SearchStrategy[Any]:
        if annotation is Any:
            return _JSON
        if annotation is None or annotation is type(None):
            return st.none()
        if annotation is str and room_key:
            return _KEY_TEXT
        if annotation is float:
            return st.floats(allow_nan=False, allow_infinity=False)
        if annotation is Decimal:
            return st.decimals(allow_nan=False, allow_infinity=False, places=4)
        if annotation is dt.datetime:
            return st.datetimes(timezones=st.none() | st.just(dt.UTC))
        return st.from_type(annotation)

    def model(self, model: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
        if model not in self.models:
            self.models[model] = st.deferred(lambda: self._build(model))
        return self.models[model]

    def _build(self, model: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
        room = issubclass(model, Room)
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for name, field in model.model_fields.items():
            strategy = self.of(field.annotation, room_key=room)
            (required if field.is_required() else optional)[field.alias or name] = strategy
        fields = st.fixed_dictionaries(required, optional=optional)
        return fields.map(lambda data: _validate(model, data)).filter(lambda instance: instance is not None)


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


@dataclass(frozen=True)
class Case:
    """One kind of payload: its TypeScript type (through the event maps) and JSON Schema."""

    name: str
    ts_type: str
    schema: dict[str, Any]
    payloads: st.SearchStrategy[Any]


def _sent(instance: BaseModel) -> Any:
    return instance.model_dump(mode="json", by_alias=True)


def _sent_by_client(instance: BaseModel) -> Any:
    # A client leaves out what it did not set; the server fills in the defaults.
    return instance.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _presence(make: Strategies) -> dict[type[Room], tuple[st.SearchStrategy[str], st.SearchStrategy[Any]]]:
    # What the server sends about presence rooms: their names, and members whose info is what presence_info returns.
    infos = {sample_app.DocRoom: make.model(sample_app.DocInfo).map(_sent), sample_app.ProjectRoom: st.just({})}
    return {
        room: (make.model(room).map(str), st.fixed_dictionaries({"user_id": st.text(max_size=8), "info": info}))
        for room, info in infos.items()
    }


def _cases(bundle: dict[str, Any]) -> list[Case]:
    make = Strategies()
    server = {cls.event_name: cls for cls in (sample_app.TaskUpdatedEvent, sample_app.ProjectRenamed)}
    server[sample_app.StatusEvent.event_name] = sample_app.StatusEvent
    client = {cls.event_name: cls for cls in (sample_app.UpdateTask, sample_app.CountTasks, sample_app.Heartbeat)}
    client[PresenceQuery.event_name] = PresenceQuery
    rooms = {f"join_{cls.prefix}": cls for cls in (sample_app.ProjectRoom, sample_app.SprintBoardRoom)}
    rooms |= {"join_status": sample_app.StatusRoom, "join_doc": sample_app.DocRoom}
    presence = _presence(make)
    events = st.one_of([st.fixed_dictionaries({"room": name, "member": member}) for name, member in presence.values()])
    lists = st.one_of(
        [
            st.fixed_dictionaries({"room": name, "members": st.lists(member, max_size=3)})
            for name, member in presence.values()
        ]
    )
    errors = st.builds(error_ack, st.sampled_from(["forbidden", "invalid_payload"]), st.text(max_size=10))
    cases = [
        Case(name, f'Parameters<ServerToClientEvents["{name}"]>[0]', schema, make.model(cls).map(_sent))
        for name, cls in server.items()
        for schema in [bundle["server_to_client"][name]]
    ]
    cases += [
        Case(cls.event_name, f'Parameters<ServerToClientEvents["{cls.event_name}"]>[0]', schema, events)
        for cls in (PresenceJoinEvent, PresenceLeaveEvent)
        for schema in [bundle["server_to_client"][cls.event_name]]
    ]
    for name, cls in {**client, **rooms}.items():
        request = f'Parameters<ClientToServerEvents["{name}"]>'
        cases.append(
            Case(name, f"{request}[0]", bundle["client_to_server"][name], make.model(cls).map(_sent_by_client))
        )
        if name in rooms:
            success = make.model(rooms[name]).map(lambda room: {"ok": True, "room": str(room)})
            if rooms[name].history:
                acked = make.model(rooms[name]).map(str)
                success = st.builds(
                    lambda ack, room: {**ack, "room": room}, make.model(HistoryJoinOk).map(_sent), acked
                )
            if rooms[name].presence:  # the room's own members, with its info (also when it keeps history)
                members = st.lists(presence[rooms[name]][1], max_size=3)
                success = st.builds(lambda ack, found: {**ack, "members": found}, success, members)
        elif cls is PresenceQuery:
            success = lists.map(lambda data: {"ok": True, "data": data})
        else:
            ack = cls.ack_type  # type: ignore[attr-defined]
            data = make.of(ack).map(lambda value, ack=ack: _ack_data(ack, value)) if ack else st.none()
            success = data.map(lambda value: {"ok": True} if value is None else {"ok": True, "data": value})
        ack_type = f"Parameters<{request}[1]>[0]"
        cases.append(Case(f"{name} ack", ack_type, bundle["acks"][name], success | errors))
    return cases


def _ack_data(ack: Any, value: Any) -> Any:
    return _sent(value) if isinstance(value, BaseModel) else json.loads(json.dumps(value))


def _collect(case: Case, validate: Callable[[Any], None]) -> list[Any]:
    found: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case.payloads)
    def property_(payload: Any) -> None:
        validate(payload)
        found.append(payload)

    property_()
    return found


def test_every_valid_payload_matches_the_schema_and_type_checks(
    generated: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    bundle = json.loads((generated / "events.schema.json").read_text())
    lines = [
        "import type { ClientToServerEvents, ServerToClientEvents } from './events';",
        "",
    ]
    counts: dict[str, int] = {}
    for index, case in enumerate(_cases(bundle)):
        validator = Draft202012Validator(
            {"$defs": bundle["$defs"], **case.schema}, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        payloads = _collect(case, validator.validate)
        counts[case.name] = len(payloads)
        lines += [f"export const case{index}_{n}: {case.ts_type} = {json.dumps(p)};" for n, p in enumerate(payloads)]
    shutil.copy(generated / "events.ts", tmp_path / "events.ts")
    (tmp_path / "payloads.ts").write_text("\n".join(lines) + "\n")

    result = tsc(tmp_path, [tmp_path / "events.ts", tmp_path / "payloads.ts"])

    assert result.returncode == 0, result.stdout[:4000]
    # Types with many values get the full budget; a payload type with one possible value (Heartbeat) gets one.
    assert counts["task_updated"] >= EXAMPLES * 0.9, counts
    assert counts["update_task"] >= EXAMPLES * 0.9, counts
