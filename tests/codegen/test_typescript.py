"""The generated events.ts under ``tsc --strict``: real usage compiles, wrong usage does not, helpers name rooms.

One compiler run serves every test here (tsc takes seconds): it type-checks the
usage files and emits JavaScript, which Node then runs for the room helpers.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from events import UserRoom
from tests.codegen.conftest import TS_DIR, tsc
from tests.codegen.sample_app import ProjectRoom, SprintBoardRoom, StatusRoom

pytestmark = pytest.mark.node

CANARY = (
    'import { projectRoom } from "./events";\n'
    "// @ts-expect-error (this line is correct, so the directive is unused and tsc must say so)\n"
    'projectRoom({ project_id: "1" });\n'
)
_DIAGNOSTIC = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.MULTILINE)


@dataclass
class Compiled:
    workdir: pathlib.Path
    output: str
    errors: list[tuple[str, int, str]]


@pytest.fixture(scope="module")
def compiled(generated: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    workdir = tmp_path_factory.mktemp("ts")
    shutil.copy(generated / "events.ts", workdir / "events.ts")
    for name in ("usage.ts", "wrong_usage.ts"):
        shutil.copy(TS_DIR / name, workdir / name)
    (workdir / "canary.ts").write_text(CANARY)
    files = [workdir / name for name in ("events.ts", "usage.ts", "wrong_usage.ts", "canary.ts")]

    result = tsc(workdir, files, emit_to=workdir / "js")

    output = result.stdout + result.stderr
    errors = [(m["file"], int(m["line"]), m["code"]) for m in _DIAGNOSTIC.finditer(output)]
    return Compiled(workdir, output, errors)


def test_usage_compiles_and_each_wrong_usage_is_rejected(compiled: Compiled) -> None:
    # A wrong line that compiles leaves its @ts-expect-error unused, which tsc reports as TS2578.
    unexpected = [error for error in compiled.errors if error[0] != "canary.ts"]
    assert unexpected == [], compiled.output
    assert (TS_DIR / "wrong_usage.ts").read_text().count("// @ts-expect-error") >= 25


def test_a_wrong_usage_that_compiles_fails_the_check(compiled: Compiled) -> None:
    assert compiled.errors == [("canary.ts", 2, "TS2578")], compiled.output


def test_room_helpers_build_the_names_the_server_uses(compiled: Compiled) -> None:
    rooms = [ProjectRoom(project_id="42"), SprintBoardRoom(org="acme", number=3), StatusRoom(), UserRoom(user_id="u-7")]
    js = compiled.workdir / "js"
    (js / "package.json").write_text('{"type": "module"}')
    (js / "main.mjs").write_text(
        'import * as events from "./events.js";\n'
        "console.log(JSON.stringify([\n"
        '  events.projectRoom({ project_id: "42" }),\n'
        '  events.sprintBoardRoom({ org: "acme", number: 3 }),\n'
        "  events.statusRoom(),\n"
        '  events.userRoom({ user_id: "u-7" }),\n'
        "]));\n"
    )

    result = subprocess.run(["node", "main.mjs"], cwd=js, capture_output=True, text=True, timeout=30, check=True)

    assert json.loads(result.stdout) == [room.name for room in rooms]
