"""Generating every target in memory, then writing it, or comparing it with what is on disk (``--check``)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codegen.asyncapi import render_asyncapi
from codegen.jsonschema import json_schema, render_schema
from codegen.python_sdk import render_python_sdk
from codegen.typescript import render_typescript
from codegen.zod import render_zod

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from codegen.spec import Spec

TARGETS = ("schema", "ts", "python", "asyncapi", "zod")
"""What ``--target`` may name, in the order files are generated."""

DEFAULT_TARGETS = ("schema", "ts", "python", "asyncapi")
"""What codegen writes when no target is named: everything whose output needs no package of its own (zod does)."""


@dataclass(frozen=True)
class Drift:
    """How one file on disk differs from what would be generated."""

    path: str
    missing: bool = False
    added: int = 0
    removed: int = 0

    def __str__(self) -> str:
        if self.missing:
            return f"{self.path}: missing"
        return f"{self.path}: differs (+{self.added} -{self.removed} lines)"


def generate(spec: Spec, targets: Iterable[str] = DEFAULT_TARGETS) -> dict[str, str]:
    """The generated files, by path relative to the output directory, for the chosen targets.

    ``zod`` brings ``events.ts`` along: ``events.zod.ts`` imports its types.

    Example:
        >>> from codegen.spec import build_spec
        >>> sorted(generate(build_spec([], [], [], modules=["app"]), ["schema", "ts"]))
        ['events.schema.json', 'events.ts']
    """
    chosen = set(targets)
    unknown = chosen - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(sorted(unknown))}; choose from {', '.join(TARGETS)}")
    bundle = json_schema(spec)
    files: dict[str, str] = {}
    if "schema" in chosen:
        files["events.schema.json"] = render_schema(spec, bundle)
    if "ts" in chosen or "zod" in chosen:
        files["events.ts"] = render_typescript(spec, bundle)
    if "python" in chosen:
        files.update(render_python_sdk(spec, bundle))
    if "asyncapi" in chosen:
        files["asyncapi.yaml"] = render_asyncapi(spec, bundle)
    if "zod" in chosen:
        files["events.zod.ts"] = render_zod(spec, bundle)
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write(files: dict[str, str], out: Path) -> list[str]:
    """Write ``files`` under ``out`` and return the paths whose content changed.

    Unchanged files are not rewritten, so their modification times (and watchers) stay quiet.

    Example:
        >>> from pathlib import Path
        >>> write({"events.ts": "// x\\n"}, Path("generated"))
        ['events.ts']
        >>> write({"events.ts": "// x\\n"}, Path("generated"))  # unchanged: not rewritten
        []
    """
    changed = []
    for relative, text in files.items():
        path = out / relative
        if _read(path) == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(relative)
    return changed


def check(files: dict[str, str], out: Path) -> list[Drift]:
    """How the files under ``out`` differ from ``files``; empty when everything is up to date.

    Example:
        >>> from pathlib import Path
        >>> [str(d) for d in check({"events.ts": "// x\\n"}, Path("/nonexistent"))]
        ['events.ts: missing']
    """
    drifts = []
    for relative, text in files.items():
        current = _read(out / relative)
        if current is None:
            drifts.append(Drift(relative, missing=True))
        elif current != text:
            lines = list(difflib.ndiff(current.splitlines(), text.splitlines()))
            added = sum(line.startswith("+ ") for line in lines)
            removed = sum(line.startswith("- ") for line in lines)
            drifts.append(Drift(relative, added=added, removed=removed))
    return drifts
