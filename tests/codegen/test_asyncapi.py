"""The AsyncAPI document: valid for the reference parser (@asyncapi/parser), and shaped as documented."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
import yaml

from tests.codegen.conftest import JS_DIR


def parse(*files: pathlib.Path) -> tuple[int, list[dict[str, object]]]:
    """Run tests/js/check_asyncapi.mjs: its exit status and one report per file."""
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "@asyncapi" / "parser").exists():
        pytest.fail("@asyncapi/parser is not installed: install Node.js 20 and run `make node` (make test does both)")
    result = subprocess.run(
        ["node", "check_asyncapi.mjs", *map(str, files)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.node
def test_the_reference_parser_accepts_the_document_and_rejects_a_broken_one(
    generated: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    document = yaml.safe_load((generated / "asyncapi.yaml").read_text())
    del document["channels"]["project"]["parameters"]  # the address names {project_id}, now undefined
    document["operations"]["update_task"]["channel"] = {"$ref": "#/channels/nowhere"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))

    status, reports = parse(generated / "asyncapi.yaml", broken)

    valid, invalid = reports
    assert valid["errors"] == [], valid
    assert valid["warnings"] == [], valid
    assert invalid["errors"], "the parser accepted a document with broken references"
    assert status == 1


def test_channels_operations_messages_and_security(generated: pathlib.Path) -> None:
    document = yaml.safe_load((generated / "asyncapi.yaml").read_text())

    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert channels["sprint_board"]["address"] == "sprint_board:{org}:{number}"
    assert list(channels["sprint_board"]["parameters"]) == ["org", "number"]
    assert sorted(channels["project"]["messages"]) == [
        "FileSharedEvent",
        "PresenceJoinEvent",  # project is a presence room
        "PresenceLeaveEvent",
        "ProjectRenamed",
        "SessionEndedEvent",
        "SessionExpiredEvent",
        "StatusEvent",
        "TaskUpdatedEvent",
    ]
    assert sorted(channels["sprint_board"]["messages"]) == [
        "FileSharedEvent",
        "ProjectRenamed",
        "SessionEndedEvent",
        "SessionExpiredEvent",
        "StatusEvent",
        "TaskUpdatedEvent",
    ]
    operations = document["operations"]
    assert operations["send_to_project"]["action"] == "send"
    update = operations["update_task"]
    assert update["action"] == "receive"
    assert update["reply"]["messages"] == [{"$ref": "#/channels/connection/messages/update_task.ack"}]
    assert update["security"] == [{"$ref": "#/components/securitySchemes/jwt"}]
    assert "join_user" not in operations
    jwt = document["components"]["securitySchemes"]["jwt"]
    assert (jwt["type"], jwt["scheme"], jwt["bearerFormat"]) == ("http", "bearer", "JWT")
    shape = document["components"]["schemas"]["TaskUpdatedEvent"]["properties"]["shape"]
    assert shape["discriminator"] == "kind"
    position = document["components"]["schemas"]["TaskUpdatedEvent"]["properties"]["position"]
    assert position["items"] == [{"type": "integer"}, {"type": "integer"}]
    assert position["additionalItems"] is False
    assert "$defs" not in (generated / "asyncapi.yaml").read_text()


def test_messages_with_bytes_say_they_are_binary(generated: pathlib.Path) -> None:
    document = yaml.safe_load((generated / "asyncapi.yaml").read_text())
    messages = document["components"]["messages"]

    binary = sorted(key for key, message in messages.items() if message.get("x-socketio-binary"))
    assert binary == ["FileSharedEvent", "share_file.ack", "share_file.request"]
    assert "binary attachment" in messages["FileSharedEvent"]["description"]
    attachment = document["components"]["schemas"]["Attachment"]["properties"]["data"]
    assert (attachment["type"], attachment["format"]) == ("string", "binary")
