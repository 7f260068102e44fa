"""Codegen proven on models nobody wrote: hypothesis builds random pydantic events (tests/codegen/corpus.py), and every
target must agree with pydantic on what they dump.

Each example is an event and a client event of the same random fields (nested models, lists, sets, dicts, optional,
unions, literals, enums, constrained strings and numbers, aliases, defaults). For each, payloads the models dump
must pass the JSON Schema, ``tsc --strict`` (as literals typed through the event maps), the zod schema (run by
Node) and the Python SDK's model (which must dump them back unchanged); mutated payloads (a field of the wrong
type, a required field missing, an extra field) must fail all three of the first. Every example goes into one
spec, so codegen, tsc and Node each run once.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from codegen.jsonschema import json_schema
from codegen.python_sdk import render_python_sdk
from codegen.spec import build_spec
from codegen.typescript import render_typescript
from codegen.zod import render_zod
from events import ClientEvent, Event, registry
from tests.codegen import corpus
from tests.codegen.conftest import JS_DIR, tsc

pytestmark = pytest.mark.node

EXAMPLES = 100
PAYLOADS = 2  # valid payloads drawn per event and per client event
_WRONG = (("string", "x"), ("integer", 7), ("boolean", True), ("null", None), ("array", []), ("object", {}))
_DIAGNOSTIC = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.MULTILINE)


@dataclass
class Payload:
    direction: str  # "server" or "client"
    event: str
    value: Any
    valid: bool
    why: str = ""


@dataclass
class Example:
    server: type[BaseModel]
    client: type[BaseModel]
    fields: tuple[tuple[Any, ...], ...]
    payloads: list[Payload] = field(default_factory=list)


def _mutants(direction: str, event: str, dumped: dict[str, Any], model: type[BaseModel], plans: Any) -> list[Payload]:
    chooser = random.Random(event)
    keys = {alias or name: (name, plan) for name, alias, plan in plans}
    out = [Payload(direction, event, {**dumped, "zz_extra": 1}, valid=False, why="an extra field")]
    key = chooser.choice(sorted(keys))
    wrong = next(value for kind, value in _WRONG if kind not in corpus.allowed(keys[key][1]))
    out.append(Payload(direction, event, {**dumped, key: wrong}, valid=False, why=f"{key} of the wrong type"))
    required = [key for key, (name, _) in keys.items() if model.model_fields[name].is_required()]
    if required:
        gone = chooser.choice(sorted(required))
        missing = {k: v for k, v in dumped.items() if k != gone}
        out.append(Payload(direction, event, missing, valid=False, why=f"required {gone} missing"))
    return out


def _examples() -> list[Example]:
    found: list[Example] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(corpus.EVENTS, st.data())
    def collect(plans: tuple[tuple[Any, ...], ...], data: st.DataObject) -> None:
        n = len(found)
        server = corpus.model(plans, f"Corpus{n}Event", base=Event, cls_kwargs={"name": f"corpus_{n}"})
        client = corpus.model(
            plans, f"Corpus{n}Request", base=ClientEvent, cls_kwargs={"name": f"corpus_{n}_request"}, defaults=True
        )
        example = Example(server.annotation, client.annotation, plans)
        for direction, built in (("server", server), ("client", client)):
            event = built.annotation.event_name
            dumps = [
                built.annotation.model_validate(data.draw(built.values)).model_dump(mode="json", by_alias=True)
                for _ in range(PAYLOADS)
            ]
            example.payloads += [Payload(direction, event, dumped, valid=True) for dumped in dumps]
            example.payloads += _mutants(direction, event, dumps[0], built.annotation, plans)
        found.append(example)

    collect()
    return found


@pytest.fixture(scope="module")
def examples() -> Iterator[list[Example]]:
    found = _examples()
    yield found
    for example in found:
        registry.server_events.unregister(example.server)
        registry.client_events.unregister(example.client)


@dataclass
class Generated:
    bundle: dict[str, Any]
    payloads: list[Payload]
    workdir: pathlib.Path
    plans: dict[str, Any]  # the fields of each event and client event, to reproduce a failure by hand


@pytest.fixture(scope="module")
def generated(examples: list[Example], tmp_path_factory: pytest.TempPathFactory) -> Generated:
    spec = build_spec(
        [example.server for example in examples],  # type: ignore[misc]
        [example.client for example in examples],  # type: ignore[misc]
        [],
        modules=[corpus.__name__],
    )
    bundle = json_schema(spec)
    workdir = tmp_path_factory.mktemp("corpus")
    (workdir / "events.ts").write_text(render_typescript(spec, bundle))
    (workdir / "events.zod.ts").write_text(render_zod(spec, bundle))
    for relative, text in render_python_sdk(spec, bundle).items():
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relative).write_text(text)
    payloads = [payload for example in examples for payload in example.payloads]
    plans = {payload.event: example.fields for example in examples for payload in example.payloads}
    return Generated(bundle, payloads, workdir, plans)


def test_the_corpus_is_big_and_varied(examples: list[Example], generated: Generated) -> None:
    kinds = {str(plan) for example in examples for plan in example.fields}
    text = " ".join(kinds)
    assert len(examples) >= EXAMPLES
    for kind in ("'model'", "'list'", "'set'", "'dict'", "'optional'", "'union'", "'tagged'", "'literal'", "'enum'"):
        assert kind in text, kind
    assert any(alias for example in examples for _, alias, _ in example.fields)
    assert sum(not payload.valid for payload in generated.payloads) >= 4 * EXAMPLES


def test_the_json_schema_accepts_every_dump_and_rejects_every_mutant(generated: Generated) -> None:
    bundle = generated.bundle
    wrong = []
    for payload in generated.payloads:
        where = "server_to_client" if payload.direction == "server" else "client_to_server"
        validator = Draft202012Validator({"$defs": bundle["$defs"], **bundle[where][payload.event]})
        if validator.is_valid(payload.value) != payload.valid:
            wrong.append((payload.event, payload.why or "valid", payload.value, generated.plans[payload.event]))
    assert wrong == []


@pytest.fixture(scope="module")
def sdk_models(generated: Generated) -> Iterator[ModuleType]:
    """The generated ``client/models.py``, in sys.modules while in use: pydantic resolves its annotations there."""
    name = "corpus_sdk_models"
    spec = importlib.util.spec_from_file_location(name, generated.workdir / "client" / "models.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_the_python_sdk_parses_every_dump_back_to_an_equal_value(generated: Generated, sdk_models: ModuleType) -> None:
    wrong = []
    for payload in (p for p in generated.payloads if p.valid):
        where = "server_to_client" if payload.direction == "server" else "client_to_server"
        name = generated.bundle[where][payload.event]["$ref"].rsplit("/", 1)[-1]
        parsed = getattr(sdk_models, name).model_validate(payload.value)
        again = json.loads(parsed.model_dump_json(by_alias=True))
        if _normal(again) != _normal(payload.value):
            wrong.append((payload.event, payload.value, again, generated.plans[payload.event]))
    assert wrong == []


def _normal(value: Any) -> Any:
    # A set's order is not kept: lists of scalars are sorted. Numbers compare as floats: JavaScript prints
    # -4.187866063138397e16 as -41878660631383970, which Python then reads as an int.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_normal(item) for item in value]
        scalars = all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in items)
        return sorted(items, key=repr) if scalars else items
    return value


def test_tsc_and_zod_accept_every_dump_and_reject_every_mutant(generated: Generated) -> None:
    workdir = generated.workdir
    lines = ['import type { ClientToServerEvents, ServerToClientEvents } from "./events";', ""]
    for index, payload in enumerate(generated.payloads):
        events = "ServerToClientEvents" if payload.direction == "server" else "ClientToServerEvents"
        if not payload.valid:
            lines.append(f"// @ts-expect-error {payload.why}")
        lines.append(
            f'export const p{index}: Parameters<{events}["{payload.event}"]>[0] = {json.dumps(payload.value)};'
        )
    (workdir / "payloads.ts").write_text("\n".join(lines) + "\n")
    files = [workdir / name for name in ("events.ts", "events.zod.ts", "payloads.ts")]

    compiled = tsc(workdir, files, emit_to=workdir / "js")

    output = compiled.stdout + compiled.stderr
    errors = [(m["file"], int(m["line"]), m["code"]) for m in _DIAGNOSTIC.finditer(output)]
    assert errors == [], output[:4000]
    results = _zod(workdir, generated.payloads)
    wrong = [
        (payload.event, payload.why or "valid", payload.value, result, generated.plans[payload.event])
        for payload, result in zip(generated.payloads, results, strict=True)
        if result["success"] != payload.valid or (payload.valid and _normal(result["data"]) != _normal(payload.value))
    ]
    assert wrong == []


def _zod(workdir: pathlib.Path, payloads: list[Payload]) -> list[dict[str, Any]]:
    js = workdir / "js"
    (js / "package.json").write_text('{"type": "module"}')
    (js / "node_modules").symlink_to(JS_DIR / "node_modules")
    (js / "cases.json").write_text(json.dumps([[p.direction, p.event, p.value] for p in payloads]))
    (js / "check.mjs").write_text(
        'import { readFileSync } from "node:fs";\n'
        'import { clientToServer, serverToClient } from "./events.zod.js";\n'
        'const cases = JSON.parse(readFileSync("cases.json", "utf8"));\n'
        "const results = cases.map(([direction, event, payload]) => {\n"
        '  const result = (direction === "server" ? serverToClient : clientToServer)[event].safeParse(payload);\n'
        "  return { success: result.success, data: result.success ? result.data : null };\n"
        "});\n"
        "console.log(JSON.stringify(results));\n"
    )
    result = subprocess.run(["node", "check.mjs"], cwd=js, capture_output=True, text=True, timeout=60, check=True)
    parsed: list[dict[str, Any]] = json.loads(result.stdout)
    return parsed
