"""The generated events.zod.ts: it compiles under ``tsc --strict``, its maps agree with events.ts, and at run time
(Node, a fake socket) listeners and ack callbacks see only payloads that passed their schema.

One compiler run serves every test here; it also compiles a copy whose schema drifted from events.ts, which the
``satisfies`` checks of the generated maps must reject.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from eventbus import JWTAuth
from tests.codegen import file_app
from tests.codegen.conftest import JS_DIR, SAMPLE, TS_DIR, run_codegen, tsc

pytestmark = pytest.mark.node

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]

_DIAGNOSTIC = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.MULTILINE)
_DRIFT = ("  healthy: z.boolean(),", "  healthy: z.string(),")


@dataclass
class Compiled:
    workdir: pathlib.Path
    output: str
    errors: list[tuple[str, int, str]]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    workdir = tmp_path_factory.mktemp("zod")
    result = run_codegen(SAMPLE, "--out", workdir, "--target", "zod")
    assert result.returncode == 0, result.stderr
    for name in ("zod_usage.ts", "zod_wrong_usage.ts", "zod_wire.ts"):
        shutil.copy(TS_DIR / name, workdir / name)
    drift = workdir / "drift"
    drift.mkdir()
    shutil.copy(workdir / "events.ts", drift / "events.ts")
    text = (workdir / "events.zod.ts").read_text()
    assert text.count(_DRIFT[0]) == 1
    (drift / "events.zod.ts").write_text(text.replace(*_DRIFT))
    usage = ("zod_usage.ts", "zod_wrong_usage.ts", "zod_wire.ts")
    files = [workdir / name for name in ("events.ts", "events.zod.ts", *usage)]

    result = tsc(workdir, [*files, drift / "events.zod.ts"], emit_to=workdir / "js")

    output = result.stdout + result.stderr
    errors = [(m["file"], int(m["line"]), m["code"]) for m in _DIAGNOSTIC.finditer(output)]
    return Compiled(workdir, output, errors)


def test_only_the_drifted_copy_fails_to_compile(compiled: Compiled) -> None:
    # A wrong usage that compiles leaves its @ts-expect-error unused, which tsc reports as TS2578.
    assert [error for error in compiled.errors if not error[0].startswith("drift/")] == [], compiled.output
    assert (TS_DIR / "zod_wrong_usage.ts").read_text().count("// @ts-expect-error") >= 7


def test_a_schema_that_drifted_from_events_ts_fails_the_satisfies_check(compiled: Compiled) -> None:
    line = (compiled.workdir / "drift" / "events.zod.ts").read_text().splitlines().index("  status: StatusEventSchema,")
    assert compiled.errors == [("drift/events.zod.ts", line + 1, "TS2322")], compiled.output


def _js(compiled: Compiled) -> pathlib.Path:
    js = compiled.workdir / "js"
    (js / "package.json").write_text('{"type": "module"}')
    if not (js / "node_modules").exists():
        (js / "node_modules").symlink_to(JS_DIR / "node_modules")
    return js


def _run_usage(compiled: Compiled) -> dict[str, Any]:
    js = _js(compiled)
    result = subprocess.run(["node", "zod_usage.js"], cwd=js, capture_output=True, text=True, timeout=30, check=True)
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_listeners_see_only_valid_events_and_on_invalid_gets_the_rest(compiled: Compiled) -> None:
    result = _run_usage(compiled)

    assert result["seen"][:2] == [["status", True, None], ["project.renamed", "8", "Gemini", 5]]
    events = [report for report in result["invalid"] if report["kind"] == "event"]
    assert events == [
        {"event": "status", "kind": "event", "paths": [["healthy"]], "payload": {"healthy": "yes", "message": None}},
        {
            "event": "project.renamed",
            "kind": "event",
            "paths": [[]],
            "payload": {"project_id": "7", "name": "Apollo", "extra": 1},
        },
    ]
    assert [seen for seen in result["seen"] if seen[0] == "project.renamed"] == [["project.renamed", "8", "Gemini", 5]]
    assert ["status", False, "after stop"] not in result["seen"]


def test_ack_callbacks_see_only_valid_acks(compiled: Compiled) -> None:
    result = _run_usage(compiled)

    assert result["seen"][2:] == [["update_task", 3], ["join_project", "forbidden"]]
    acks = [report for report in result["invalid"] if report["kind"] == "ack"]
    assert [(a["event"], a["paths"]) for a in acks] == [("update_task", [["data", "version"]])]


def test_schemas_fill_defaults_and_keep_types_strict(compiled: Compiled) -> None:
    result = _run_usage(compiled)

    assert result["defaults"] == {"task_id": "t", "title": None, "state": "open"}
    assert result["counted"] is False
    assert result["strict"] is False
    assert result["binary"] == {
        "arrayBuffer": True,
        "uint8Array": True,
        "dataView": False,
        "string": False,
        "numbers": False,
    }


async def test_bytes_cross_a_live_server_as_attachments_and_pass_the_zod_schema(
    compiled: Compiled, jwt_auth: JWTAuth, token: Token, serve: Serve
) -> None:
    url = await serve(file_app.create_bus(auth=jwt_auth).asgi_app())
    node = await asyncio.create_subprocess_exec(
        "node", "zod_wire.js", url, token("alice"), cwd=_js(compiled), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(node.communicate(), 30)

    result = json.loads(stdout)
    assert result["ack"] == {"size": 12, "head": "0001"}  # 6 bytes of data, 6 in parts; a binary ack, checked too
    sent = "00017f80feff"
    assert result["event"] == {
        "kind": "Buffer",  # Node's socket.io-client hands an attachment over as a Buffer (a browser's: an ArrayBuffer)
        "uint8": True,
        "data": sent,
        "thumbnail": sent,
        "text_accepted": False,
        "issues": [
            [
                ["attachment", "data"],
                "must be binary data (an ArrayBuffer or a Uint8Array), sent as a Socket.IO attachment",
            ]
        ],
    }
    assert result["invalid"] == []
