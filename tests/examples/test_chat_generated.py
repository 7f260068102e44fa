"""The demo's committed frontend types are what codegen makes of its models, and the page compiles against them."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
WEB = ROOT / "examples" / "chat" / "web"
# The same arguments as the Makefile's DEMO_CODEGEN, which `make demo` runs to regenerate them.
CODEGEN = ["examples.chat.events", "--out", "examples/chat/web/src/generated", "--target", "ts,schema,asyncapi,zod"]


def test_committed_generated_files_match_the_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codegen", *CODEGEN, "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\nregenerate with: make web-types"
    assert "up to date" in result.stdout


def test_makefile_regenerates_with_the_same_arguments() -> None:
    assert (
        f"DEMO_CODEGEN := {' '.join(CODEGEN)}".replace("examples/chat/web", "$(WEB)") in (ROOT / "Makefile").read_text()
    )


@pytest.mark.node
def test_page_typechecks_against_the_generated_types() -> None:
    tsc = WEB / "node_modules" / ".bin" / "tsc"
    if shutil.which("node") is None or not tsc.exists():
        pytest.fail("the page's npm packages are missing: run make test (npm ci in examples/chat/web)")
    result = subprocess.run(
        [str(tsc), "--noEmit", "-p", "."], cwd=WEB, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
