"""``--check`` catches drift between the classes and the files on disk; ``--diff`` reports breaking changes."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from codegen.cli import main
from tests.codegen.conftest import run_codegen

APP = """
from events import ClientEvent, Event, Room


class DocRoom(Room, prefix="doc"):
    doc_id: str


class EditedEvent(Event):
    doc_id: str
    text: str
    version: int
    author: str


class TypingEvent(Event):
    doc_id: str


class Edit(ClientEvent):
    doc_id: str
    text: str
    note: str = ""
"""


def write_app(directory: pathlib.Path, source: str) -> None:
    (directory / "doc_events.py").write_text(textwrap.dedent(source))


def test_check_passes_after_generating_and_fails_after_a_field_is_added(tmp_path: pathlib.Path) -> None:
    write_app(tmp_path, APP)
    out = tmp_path / "generated"
    assert run_codegen("doc_events", "--out", out, pythonpath=[tmp_path]).returncode == 0
    before = {path: path.read_text() for path in out.rglob("*") if path.is_file()}

    fresh = run_codegen("doc_events", "--out", out, "--check", pythonpath=[tmp_path])
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "up to date" in fresh.stdout

    write_app(tmp_path, APP.replace("    author: str\n", "    author: str\n    edited_at: float\n"))
    stale = run_codegen("doc_events", "--out", out, "--check", pythonpath=[tmp_path])

    assert stale.returncode == 1, stale.stdout + stale.stderr
    for name in ("events.schema.json", "events.ts", "client/models.py", "asyncapi.yaml"):
        assert f"  {name}: differs" in stale.stdout
    assert "client/client.py" not in stale.stdout
    assert {path: path.read_text() for path in out.rglob("*") if path.is_file()} == before, "--check wrote files"


def test_check_reports_missing_files_for_the_chosen_targets_only(tmp_path: pathlib.Path) -> None:
    write_app(tmp_path, APP)
    out = tmp_path / "generated"

    result = run_codegen("doc_events", "--out", out, "--check", "--target", "ts,schema", pythonpath=[tmp_path])

    assert result.returncode == 1
    assert result.stdout.splitlines()[1:3] == ["  events.schema.json: missing", "  events.ts: missing"]
    assert not out.exists()


def test_diff_reports_removed_retyped_and_newly_required(tmp_path: pathlib.Path) -> None:
    write_app(tmp_path, APP)
    assert (
        run_codegen("doc_events", "--out", tmp_path / "v1", "--target", "schema", pythonpath=[tmp_path]).returncode == 0
    )
    old = tmp_path / "v1" / "events.schema.json"
    unchanged = run_codegen("doc_events", "--diff", old, pythonpath=[tmp_path])
    changed = (
        APP.replace("    author: str\n", "")
        .replace("    version: int\n", "    version: str\n")
        .replace('    note: str = ""\n', "    note: str\n    reason: str\n")
        .replace("class TypingEvent(Event):\n    doc_id: str\n", "")
    )
    write_app(tmp_path, changed)

    result = run_codegen("doc_events", "--diff", old, pythonpath=[tmp_path])

    assert (unchanged.returncode, unchanged.stdout) == (0, f"no breaking changes against {old}\n")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "  newly required field: client_to_server 'edit' .note",
        "  newly required field: client_to_server 'edit' .reason: added",
        "  removed field: server_to_client 'edited' .author",
        "  retyped field: server_to_client 'edited' .version: number -> string",
        "  removed event: server_to_client 'typing'",
    ]


def test_bad_arguments_and_modules_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no_such_module", "--out", str(tmp_path)]) == 2
    assert "cannot import 'no_such_module'" in capsys.readouterr().err
    for argv in (["tests.codegen.sample_app"], ["m", "--out", "x", "--target", "ts,java"], ["m", "--check"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    assert main(["tests.codegen.sample_app", "--diff", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_eventbus_codegen_imports_modules_from_the_working_directory(tmp_path: pathlib.Path) -> None:
    write_app(tmp_path, APP)
    script = pathlib.Path(sys.executable).parent / "eventbus"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    result = subprocess.run(
        [str(script), "codegen", "doc_events", "--out", "generated", "--target", "ts"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "export function docRoom(keys: DocRoom): `doc:${string}` {" in (tmp_path / "generated/events.ts").read_text()
