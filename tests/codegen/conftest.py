"""Fixtures for the codegen tests: the CLI run in a fresh interpreter, and the TypeScript compiler."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
TS_DIR = pathlib.Path(__file__).parent / "ts"
SAMPLE = "tests.codegen.sample_app"

RunCodegen = Callable[..., subprocess.CompletedProcess[str]]


def run_codegen(
    *args: str | os.PathLike[str], pythonpath: Sequence[pathlib.Path] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -m codegen ARGS`` in a new interpreter, so the registries hold only what the modules declare."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in pythonpath), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "codegen", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Every target generated once for the sample application; tests must not modify it."""
    out = tmp_path_factory.mktemp("generated")
    result = run_codegen(SAMPLE, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def tsc(
    workdir: pathlib.Path, files: Sequence[pathlib.Path], *, emit_to: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``tsc --strict --noEmit`` on ``files`` (or emitting to ``emit_to``), with tests/js's socket.io-client and zod."""
    compiler = JS_DIR / "node_modules" / ".bin" / "tsc"
    if shutil.which("node") is None or not compiler.exists():
        pytest.fail("tsc is not installed: install Node.js 20 and run `make node` (make test does both)")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": emit_to is None,
            **({"outDir": str(emit_to)} if emit_to is not None else {}),
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "types": [],
            "paths": {name: [str(JS_DIR / "node_modules" / name)] for name in ("socket.io-client", "zod")},
        },
        "files": [str(path) for path in files],
    }
    (workdir / "tsconfig.json").write_text(json.dumps(config, indent=2))
    return subprocess.run(
        [str(compiler), "-p", str(workdir / "tsconfig.json")],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
