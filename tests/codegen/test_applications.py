"""Codegen per application: ``--app PATH`` picks one application's classes; a cross-application clash is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def codegen(*args: str) -> subprocess.CompletedProcess[str]:
    # In its own process: the registries are global, and this module's clash must not reach the other tests.
    return subprocess.run(
        [sys.executable, "-m", "codegen", "tests.codegen.multi_app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_each_application_gets_its_own_types(tmp_path: Path) -> None:
    for app, field in (("/admin", "severity"), ("/feed", "headline")):
        out = tmp_path / app.strip("/")
        result = codegen("--app", app, "--out", str(out), "--target", "schema,ts")
        assert result.returncode == 0, result.stderr
        schema = json.loads((out / "events.schema.json").read_text())
        notice = schema["server_to_client"]["notice"]["$ref"].rsplit("/", 1)[-1]
        assert list(schema["$defs"][notice]["properties"]) == [field]
        assert "session_expired" in schema["server_to_client"]  # the library's events belong to every application
        assert f"notice: (payload: {notice}) => void;" in (out / "events.ts").read_text()


def test_a_clash_across_applications_asks_for_app(tmp_path: Path) -> None:
    result = codegen("--out", str(tmp_path))
    assert result.returncode == 2
    assert "server event 'notice' is declared by AdminNotice (app /admin) and FeedNotice (app /feed)" in result.stderr
    assert "--app PATH" in result.stderr
    assert not any(tmp_path.iterdir())
