"""Codegen per application: ``--app PATH`` picks one application's classes, ``--all-apps`` (or ``--app`` repeated)
writes each into its own folder; a cross-application clash in one output is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.conftest import tsc

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


PAGES = """\
import type { Socket } from "socket.io-client";
import type { ServerToClientEvents as Admin } from "./admin/events";
import type { ServerToClientEvents as Feed } from "./feed/events";

declare const admin: Socket<Admin>;
declare const feed: Socket<Feed>;
admin.on("notice", (notice) => notice.severity.toFixed());
admin.on("session_expired", (event) => event.reason);
feed.on("notice", (notice) => notice.headline.toUpperCase());
feed.on("headline", (headline) => headline.title.toUpperCase());
// @ts-expect-error headline is an event of /feed only
admin.on("headline", () => undefined);
// @ts-expect-error the notice of /admin has a severity, not a headline
admin.on("notice", (notice) => notice.headline);
"""


def test_all_apps_writes_a_folder_per_application(tmp_path: Path) -> None:
    result = codegen("--all-apps", "--out", str(tmp_path), "--target", "ts,python,zod")
    assert result.returncode == 0, result.stderr

    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    files = ["client/__init__.py", "client/client.py", "client/models.py", "events.ts", "events.zod.ts"]
    assert written == [f"{app}/{name}" for app in ("admin", "feed") for name in files]
    assert "for application /feed; do not edit." in (tmp_path / "feed" / "events.ts").read_text().splitlines()[0]
    assert 'namespace: str = "/admin",' in (tmp_path / "admin" / "client" / "client.py").read_text()
    assert "headline" not in (tmp_path / "admin" / "events.zod.ts").read_text()
    assert codegen("--app", "/admin", "--app", "/feed", "--out", str(tmp_path), "--target", "ts,python,zod", "--check")
    check = codegen("--all-apps", "--out", str(tmp_path), "--target", "ts,python,zod", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("generated files are up to date") == 2


@pytest.mark.node
def test_a_page_of_one_application_cannot_listen_to_another_s_events(tmp_path: Path) -> None:
    result = codegen("--app", "/admin", "--app", "/feed", "--out", str(tmp_path), "--target", "ts")
    assert result.returncode == 0, result.stderr
    (tmp_path / "pages.ts").write_text(PAGES)

    compiled = tsc(tmp_path, [tmp_path / "pages.ts"])

    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_several_applications_cannot_share_one_diff(tmp_path: Path) -> None:
    result = codegen("--all-apps", "--out", str(tmp_path), "--diff", str(tmp_path / "old.json"))
    assert result.returncode == 2
    assert "--diff compares one application's schema" in result.stderr
