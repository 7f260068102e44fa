"""``make lint``: fail when a tracked file is over 1 MiB, so binaries (wheels, dumps, videos) stay out of git.

Run from anywhere inside the work tree: ``python tests/packaging/check_large_files.py [--limit BYTES]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

LIMIT = 1024 * 1024


def large_files(root: Path, limit: int = LIMIT) -> list[tuple[str, int]]:
    """Tracked files (as ``git ls-files`` lists them) larger than ``limit`` bytes, largest first."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    found = []
    for name in filter(None, listed.decode().split("\0")):
        path = root / name
        # A file deleted or moved in the work tree but not yet in the index is not there to measure.
        if path.is_file() and (size := path.stat().st_size) > limit:
            found.append((name, size))
    return sorted(found, key=lambda item: -item[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=LIMIT, help=f"largest size allowed, in bytes (default {LIMIT})")
    args = parser.parse_args(argv)
    root = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, check=True, text=True
        ).stdout.strip()
    )
    found = large_files(root, args.limit)
    for name, size in found:
        print(f"{name}: {size:,} bytes, over the {args.limit:,}-byte limit for tracked files", file=sys.stderr)
    if found:
        print("keep binaries out of git: `git rm --cached` them and add their pattern to .gitignore", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
