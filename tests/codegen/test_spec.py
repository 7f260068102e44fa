"""The spec and the schema bundle, in process: what is collected, which mode each payload uses, name clashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import events
from codegen import NameCollisionError, build_spec, collect, json_schema, render_python_sdk, render_typescript
from codegen.spec import Spec
from codegen.typescript import ts_identifier
from events import ClientEvent, Event, Room, UserRoom
from tests.codegen import sample_app

SAMPLE_EVENTS = [sample_app.TaskUpdatedEvent, sample_app.ProjectRenamed, sample_app.StatusEvent]
SAMPLE_CLIENT = [sample_app.UpdateTask, sample_app.CountTasks, sample_app.Heartbeat]
SAMPLE_ROOMS = [sample_app.DocRoom, sample_app.ProjectRoom, sample_app.SprintBoardRoom, sample_app.StatusRoom, UserRoom]


@pytest.fixture
def sample_spec() -> Spec:
    return build_spec(SAMPLE_EVENTS, SAMPLE_CLIENT, SAMPLE_ROOMS, modules=["tests.codegen.sample_app"])


@pytest.fixture
def forget() -> Iterator[list[type]]:
    """Classes a test declares are taken out of the global registries afterwards."""
    declared: list[type] = []
    yield declared
    for cls in declared:
        for registry in (events.registry.server_events, events.registry.client_events, events.registry.rooms):
            registry.unregister(cls)


def test_collect_reads_the_registries_after_importing() -> None:
    spec = collect(["tests.codegen.sample_app"])

    assert {e.model for e in spec.server_events} >= set(SAMPLE_EVENTS)
    assert Event not in {e.model for e in spec.server_events}
    assert ClientEvent not in {e.model for e in spec.client_events}
    assert {r.model for r in spec.rooms} >= set(SAMPLE_ROOMS)


def test_rooms_and_client_events_are_sorted_and_the_user_room_is_not_joinable(sample_spec: Spec) -> None:
    assert [room.prefix for room in sample_spec.rooms] == ["doc", "project", "sprint_board", "status", "user"]
    assert [room.prefix for room in sample_spec.joinable_rooms] == ["doc", "project", "sprint_board", "status"]
    assert sample_spec.rooms[2].keys == ("org", "number")
    assert "join_user" not in sample_spec.client_event_names()
    assert sample_spec.client_event_names()[:3] == ["count_tasks", "heartbeat", "join_doc"]


def test_a_presence_room_s_info_type_is_what_its_presence_info_returns(sample_spec: Spec) -> None:
    rooms = {room.prefix: room for room in sample_spec.rooms}

    assert rooms["doc"].info is sample_app.DocInfo  # an async def: the awaited type
    assert rooms["project"].info is None  # the default presence_info: always {}
    assert json_schema(sample_spec)["presence_info"] == {
        "doc": {"$ref": "#/$defs/DocInfo"},
        "project": {"type": "object", "additionalProperties": False, "maxProperties": 0},
    }


def test_server_payloads_use_serialization_mode_and_client_payloads_validation_mode(sample_spec: Spec) -> None:
    defs = json_schema(sample_spec)["$defs"]

    assert "message" in defs["StatusEvent"]["required"]  # a default is still always on the wire
    assert "summary" in defs["TaskUpdatedEvent"]["required"]  # computed fields are sent too
    assert "createdBy" in defs["TaskUpdatedEvent"]["properties"]  # by alias
    assert defs["UpdateTask"]["required"] == ["task_id"]
    assert defs["Label-Input"]["required"] == ["name"]
    assert defs["Label-Output"]["required"] == ["name", "color"]
    assert defs["AckError"]["required"] == ["code", "message"]  # the runtime leaves "errors" out when empty


def test_maps_reference_definitions_by_class_name(sample_spec: Spec) -> None:
    bundle = json_schema(sample_spec)

    assert bundle["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert bundle["server_to_client"]["project.renamed"] == {"$ref": "#/$defs/ProjectRenamed"}
    assert bundle["client_to_server"]["join_sprint_board"] == {"$ref": "#/$defs/SprintBoardRoom"}
    assert bundle["acks"]["join_project"] == {
        "anyOf": [{"$ref": "#/$defs/PresenceJoinOk"}, {"$ref": "#/$defs/ErrorAck"}]
    }
    assert bundle["acks"]["leave_project"] == {"anyOf": [{"$ref": "#/$defs/JoinOk"}, {"$ref": "#/$defs/ErrorAck"}]}
    count_ok = bundle["acks"]["count_tasks"]["anyOf"][0]
    assert count_ok["properties"]["data"] == {"type": "integer"}
    assert bundle["acks"]["heartbeat"]["anyOf"][0]["required"] == ["ok"]
    assert bundle["rooms"]["user"] == {"$ref": "#/$defs/UserRoom"}


def test_a_client_event_named_like_a_join_handler_is_refused(forget: list[type]) -> None:
    class JoinProject(ClientEvent, name="join_project"):
        pass

    forget.append(JoinProject)
    with pytest.raises(NameCollisionError, match="join/leave handler of ProjectRoom"):
        build_spec([], [JoinProject], [sample_app.ProjectRoom], modules=["x"])


def test_a_model_named_like_a_generated_type_is_refused(forget: list[type]) -> None:
    class EventAck(BaseModel):
        x: int

    class Acked(Event):
        ack: EventAck

    forget.append(Acked)
    with pytest.raises(NameCollisionError, match="EventAck"):
        render_typescript(build_spec([Acked], [], [], modules=["x"]))


def test_a_client_event_that_would_shadow_a_client_method_is_refused(forget: list[type]) -> None:
    class Connect(ClientEvent, name="on"):
        pass

    forget.append(Connect)
    with pytest.raises(NameCollisionError, match="SDK method on"):
        render_python_sdk(build_spec([], [Connect], [], modules=["x"]))


def test_keys_that_are_no_python_names_make_the_sdk_take_a_model(forget: list[type]) -> None:
    class Odd(ClientEvent):
        """Escapes in docs survive: C:\\temp and \"\"\" quotes."""

        from_: str = sample_app.Field(alias="from")

    class OddRoom(Room, prefix="odd_keys"):
        class_: str = sample_app.Field(alias="class")

    forget += [Odd, OddRoom]
    files = render_python_sdk(build_spec([], [Odd], [OddRoom], modules=["x"]))
    client = files["client/client.py"]

    assert "async def odd(self, *, payload: models.Odd) -> None:" in client
    assert "async def join_odd_keys(self, *, room: models.OddRoom) -> models.JoinOk:" in client
    assert "def odd_keys_room(room: models.OddRoom) -> str:" in client
    compile(client, "client.py", "exec")


@pytest.mark.parametrize(
    ("name", "expected"), [("Label-Input", "LabelInput"), ("Page_int_", "Page_int_"), ("3D", "_3D")]
)
def test_typescript_names(name: str, expected: str) -> None:
    assert ts_identifier(name) == expected


def test_typescript_quotes_wire_names_that_are_no_identifiers(sample_spec: Spec) -> None:
    ts = render_typescript(sample_spec)

    assert '  "project.renamed": (payload: ProjectRenamed, positions?: RoomPositions) => void;' in ts
    assert "  heartbeat: (payload: Heartbeat, callback: (ack: EmptyAck) => void) => void;" in ts
    assert "export function sprintBoardRoom(keys: SprintBoardRoom): `sprint_board:${string}:${string}` {" in ts


def test_a_package_is_imported_with_every_module_under_it() -> None:
    spec = collect(["tests.eventbus.discovered_app.socketio_events"])

    assert {"order_shipped", "team_renamed"} <= {event.name for event in spec.server_events}
    assert {"discovered_order", "discovered_team"} <= {room.prefix for room in spec.rooms}
