"""Every fenced block of README.md and docs/ is included from a tested file, executed, parsed or skipped with a reason.

The rules, also in docs/development.md:

- a ``python`` block made only of ``--8<--`` includes must include files the tests
  run (the tutorial's ``app/`` and ``talk.py``), and each ``path:section`` must exist;
- a block right after ``<!-- docs-test: same-as PATH[:SECTION] -->`` (the README,
  which GitHub renders without includes) must equal that file or section;
- any other ``python`` block is executed: a page's blocks in order, in one
  namespace, in a fresh interpreter in ``examples/tutorial/`` (``run_blocks.py``);
- ``ts`` blocks are included from the tutorial's ``web/src/main.ts`` (which
  ``test_frontend.py`` compiles) or ``tests/codegen/ts/`` (which tests/codegen
  compiles and runs), or follow ``<!-- docs-test: compile ... -->`` and are compiled by
  ``test_frontend.py`` against the types codegen makes from the page's own Python;
  ``json`` and ``toml`` blocks are parsed;
- a block right after ``<!-- docs-test: skip REASON -->`` is skipped (``python``
  only as a ``counter-example:``); ``sh`` and ``text`` blocks need that marker.

Page markers: ``<!-- docs-test: redis ... -->`` gives the page's Python a real
redis-server (``EVENTBUS_REDIS_URL``), ``<!-- docs-test: codegen ... -->`` the
tutorial's generated Python client on ``sys.path``.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable

import pytest

from tests.docs.blocks import ALL_BLOCKS, Block, includes, own_python, page_markers, section
from tests.docs.tutorial import ROOT, TUTORIAL, environment, new_secret
from tests.redis_server import RedisServer

TESTED_INCLUDES = {  # what tests/docs runs: the tutorial's server (test_tutorial) and page (test_frontend)
    "python": ("examples/tutorial/app/", "examples/tutorial/talk.py"),
    "ts": ("examples/tutorial/web/src/main.ts", "tests/codegen/ts/"),  # tests/codegen compiles and runs those
    "json": ("examples/tutorial/web/tsconfig.json",),
}


def check(block: Block) -> str:
    """Check one block that is not executed; return how ("included", "same-as", "parsed", "skipped", "python")."""
    if block.marker is not None and block.marker[0] == "skip":
        assert block.marker[1], f"{block}: a skip marker needs a reason"
        if block.lang == "python":
            assert block.marker[1].startswith("counter-example:"), (
                f"{block}: Python is skipped only as a counter-example"
            )
        return "skipped"
    if block.marker is not None and block.marker[0] == "compile":
        assert block.lang == "ts", f"{block}: only TypeScript is compiled with its page's types"
        return "compiled"  # by tests/docs/test_frontend.py, against the types codegen makes from the page's Python
    if block.marker is not None and block.marker[0] == "same-as":
        path, _, name = block.marker[1].partition(":")
        assert block.text == section(path, name or None), f"{block} differs from {block.marker[1]}: copy it again"
        assert path.startswith(TESTED_INCLUDES["python"]), f"{block}: {path} is not a file the tests run"
        return "same-as"
    included = includes(block)
    if included is not None:
        for included_path, included_section in included:
            assert included_path.startswith(TESTED_INCLUDES.get(block.lang, ())), (
                f"{block}: {included_path} is not a file the tests run"
            )
            section(included_path, included_section)
        return "included"
    if block.lang == "python":
        return "python"
    if block.lang == "json":
        json.loads(block.text)
        return "parsed"
    if block.lang == "toml":
        tomllib.loads(block.text)
        return "parsed"
    raise AssertionError(f"{block}: include it from a tested file, or mark it <!-- docs-test: skip REASON -->")


def test_every_block_is_tested_or_skipped_with_a_reason() -> None:
    outcomes = {str(block): check(block) for block in ALL_BLOCKS}

    assert "python" in outcomes.values()
    assert {"included", "same-as", "skipped", "parsed"} <= set(outcomes.values())


def test_the_readme_example_is_the_tutorials_code() -> None:
    readme = [block for block in ALL_BLOCKS if block.page.name == "README.md" and block.lang == "python"]

    assert readme, "the README shows no Python"
    assert all(block.marker is not None and block.marker[0] in ("same-as", "skip") for block in readme)


PAGES_WITH_PYTHON = sorted(
    {block.page for block in ALL_BLOCKS if block.lang == "python" and block.marker is None and includes(block) is None}
)


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=[pytest.mark.redis] if "redis" in page_markers(page) else [])
        for page in PAGES_WITH_PYTHON
    ],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_the_python_of_each_page_runs(
    page: pathlib.Path, tmp_path: pathlib.Path, start_redis: Callable[..., RedisServer]
) -> None:
    sources = own_python(page)
    (tmp_path / "blocks.json").write_text(json.dumps(sources))
    secret = new_secret()
    env = environment(secret)
    markers = page_markers(page)
    if "redis" in markers:
        env["EVENTBUS_REDIS_URL"] = start_redis().url
    if "codegen" in markers:
        generated = tmp_path / "generated"
        result = subprocess.run(
            ["eventbus", "codegen", "app.socketio_events", "--out", str(generated), "--target", "python"],
            cwd=TUTORIAL,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        env["PYTHONPATH"] = str(generated)

    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::UserWarning",
            str(pathlib.Path(__file__).with_name("run_blocks.py")),
            str(tmp_path / "blocks.json"),
        ],
        cwd=TUTORIAL,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["blocks"] == len(sources)


def block(text: str, lang: str = "python", marker: tuple[str, str] | None = None) -> Block:
    return Block(ROOT / "docs" / "example.md", 1, lang, text, marker)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (block("ls\n", lang="sh"), "mark it <!-- docs-test: skip REASON -->"),
        (block("x = 1\n", marker=("skip", "too slow")), "only as a counter-example"),
        (block("ls\n", lang="sh", marker=("skip", "")), "needs a reason"),
        (block('--8<-- "examples/chat/events.py"\n'), "not a file the tests run"),
        (block('--8<-- "examples/tutorial/app/main.py:nope"\n'), "no single section 'nope'"),
        (block("bus = None\n", marker=("same-as", "examples/tutorial/app/main.py:serve")), "copy it again"),
        (block("{not json}\n", lang="json"), "Expecting property name"),
    ],
)
def test_the_checker_rejects_what_it_should(wrong: Block, message: str) -> None:
    with pytest.raises(Exception, match=re.escape(message)):
        check(wrong)


def test_the_checker_accepts_the_include_forms() -> None:
    assert check(block('--8<-- "examples/tutorial/app/main.py:serve"\n')) == "included"
    assert check(block("--8<--\nexamples/tutorial/app/main.py:serve\nexamples/tutorial/app/chats.py\n--8<--\n")) == (
        "included"
    )
