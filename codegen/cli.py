"""``eventbus codegen`` / ``python -m codegen``: import the application's modules and generate from its registries."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from codegen.diff import breaking_changes, load_bundle
from codegen.exceptions import CodegenError
from codegen.jsonschema import json_schema
from codegen.output import DEFAULT_TARGETS, TARGETS, check, generate, write
from codegen.spec import app_folder, applications, collect
from events._extras import MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from codegen.spec import Spec


def _targets(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [target for target in chosen if target not in TARGETS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose targets from {','.join(TARGETS)} (got {text!r})")
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventbus codegen",
        description="Generate JSON Schema, TypeScript, a Python SDK and AsyncAPI from the event classes.",
    )
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="modules (or packages) declaring the events")
    parser.add_argument("--out", type=Path, metavar="DIR", help="directory to write the generated files to")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the files in DIR are not up to date"
    )
    parser.add_argument(
        "--target",
        type=_targets,
        default=list(DEFAULT_TARGETS),
        metavar="T[,T...]",
        help=f"what to generate, among {','.join(TARGETS)} (default: {','.join(DEFAULT_TARGETS)}; zod needs the zod "
        "package and brings ts along)",
    )
    parser.add_argument(
        "--app",
        metavar="PATH",
        action="append",
        help="generate for an application (namespace) such as /admin: its classes and the shared ones; repeated, "
        "each application goes into its own folder of DIR (/admin into admin/)",
    )
    parser.add_argument(
        "--all-apps",
        action="store_true",
        help="generate every application the modules declare, each into its own folder of DIR (/ into default/)",
    )
    parser.add_argument(
        "--diff",
        type=Path,
        metavar="OLD_SCHEMA",
        help="report breaking changes against an older events.schema.json; exit 1 when there are any",
    )
    return parser


def _report_diff(spec: Spec, old_path: Path) -> int:
    try:
        old = load_bundle(old_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"eventbus codegen: cannot read {old_path} as an events.schema.json: {exc}", file=sys.stderr)
        return 2
    changes = breaking_changes(old, json_schema(spec))
    if not changes:
        print(f"no breaking changes against {old_path}")
        return 0
    print(f"{len(changes)} breaking change(s) against {old_path}:")
    for change in changes:
        print(f"  {change}")
    return 1


def _check_or_write(spec: Spec, out: Path, targets: Sequence[str], *, check_only: bool, command: str) -> int:
    files = generate(spec, targets)
    if check_only:
        drifts = check(files, out)
        if not drifts:
            print(f"{out}: {len(files)} generated files are up to date")
            return 0
        print(f"{out}: {len(drifts)} of {len(files)} generated files are out of date:")
        for drift in drifts:
            print(f"  {drift}")
        print(f"run `{command}` to regenerate them")
        return 1
    changed = write(files, out)
    print(f"{out}: wrote {len(changed)} of {len(files)} files" + (f" ({', '.join(changed)})" if changed else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run codegen with command-line arguments; returns the exit status.

    0: done (or up to date, or no breaking change); 1: ``--check`` found
    drift or ``--diff`` found breaking changes; 2: bad arguments or modules.

    Example:
        >>> main(["events", "--out", "frontend/src/generated", "--target", "ts"])  # yours: "app.socketio_events"
        frontend/src/generated: wrote 1 of 1 files (events.ts)
        0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.out is None and args.diff is None:
        parser.error("--out DIR is required (or --diff OLD_SCHEMA for a breaking-change report)")
    if args.check and args.out is None:
        parser.error("--check compares the files in --out DIR; pass --out")
    if args.all_apps and args.app:
        parser.error("--all-apps already generates every application; drop --app")
    several = args.all_apps or len(args.app or []) > 1
    if several and args.diff is not None:
        parser.error("--diff compares one application's schema; pass a single --app with it")
    # Console scripts do not put the working directory on sys.path, but `python -m` does: behave the same.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        apps = applications(args.modules) if args.all_apps else (args.app or [None])
        _check_folders(apps if several else [])
        status = 0
        for app in apps:
            spec = collect(args.modules, app=app)
            if args.diff is not None:
                status = _report_diff(spec, args.diff)
            if args.out is not None:
                out = args.out / app_folder(app) if several and app is not None else args.out
                command = _command(args.modules, args.out, apps if several or app is None else [app])
                status = max(status, _check_or_write(spec, out, args.target, check_only=args.check, command=command))
    except (CodegenError, MissingExtraError) as exc:
        print(f"eventbus codegen: {exc}", file=sys.stderr)
        return 2
    return status


def _check_folders(apps: Sequence[str | None]) -> None:
    folders: dict[str, str] = {}
    for app in apps:
        if app is None:
            continue
        other = folders.setdefault(app_folder(app), app)
        if other != app:
            raise CodegenError(f"applications {other} and {app} would both be written to {app_folder(app)}/")


def _command(modules: Sequence[str], out: Path, apps: Sequence[str | None]) -> str:
    flags = "".join(f" --app {app}" for app in apps if app is not None)
    return f"eventbus codegen {' '.join(modules)} --out {out}{flags}"
