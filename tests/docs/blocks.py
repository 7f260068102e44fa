"""The fenced blocks of README.md and docs/, and the markers that say how tests treat them (see test_code_blocks)."""

from __future__ import annotations

import pathlib
import re
import textwrap
from dataclasses import dataclass

from tests.docs.tutorial import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
MARKER = re.compile(r"^\s*<!-- docs-test: (?P<kind>[\w-]+)(?: (?P<detail>.*?))? -->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>\w*)\s*$")
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>\w+))?"$')
BLOCK_INCLUDE_LINE = re.compile(r"^(?P<path>[^\s:]+)(?::(?P<section>\w+))?$")


@dataclass
class Block:
    page: pathlib.Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang})"


def blocks_of(page: pathlib.Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        previous = MARKER.match(lines[index - 1]) if index else None
        marker = (previous["kind"], previous["detail"] or "") if previous else None
        text = textwrap.dedent("\n".join(lines[index + 1 : end]))
        found.append(Block(page, index + 1, fence["lang"], text + "\n", marker))
        index = end + 1
    return found


def page_markers(page: pathlib.Path) -> set[str]:
    return {m["kind"] for line in page.read_text().splitlines() if (m := MARKER.match(line))} & {"redis", "codegen"}


def includes(block: Block) -> list[tuple[str, str | None]] | None:
    """The ``(path, section)`` a block includes, or None when it holds code of its own."""
    lines = block.text.strip().splitlines()
    if len(lines) == 1 and (single := INCLUDE.match(lines[0])):
        return [(single["path"], single["section"])]
    if len(lines) >= 3 and lines[0] == lines[-1] == "--8<--":
        matches = [BLOCK_INCLUDE_LINE.match(line) for line in lines[1:-1]]
        if all(matches):
            return [(m["path"], m["section"]) for m in matches if m]
    return None


def section(path: str, name: str | None) -> str:
    """The text pymdownx.snippets includes for ``path:name``: the section's lines, dedented, markers dropped."""
    lines = (ROOT / path).read_text().splitlines()
    if name is not None:
        starts = [i for i, line in enumerate(lines) if line.strip().endswith(f"--8<-- [start:{name}]")]
        ends = [i for i, line in enumerate(lines) if line.strip().endswith(f"--8<-- [end:{name}]")]
        assert len(starts) == len(ends) == 1, f"{path} has no single section {name!r}"
        lines = lines[starts[0] + 1 : ends[0]]
    kept = [line for line in lines if not re.search(r"--8<-- \[(start|end):\w+\]", line)]
    return textwrap.dedent("\n".join(kept)).strip("\n") + "\n"


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def own_python(page: pathlib.Path) -> list[str]:
    """The page's Python blocks that hold code of their own (not includes, not skipped): the ones executed."""
    return [b.text for b in blocks_of(page) if b.lang == "python" and b.marker is None and includes(b) is None]
