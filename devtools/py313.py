"""Python 3.13 beside the machine's 3.11: a Debian trixie chroot with the project installed (``make py313``).

Only CPython 3.11 is installed here and no package registry ships an interpreter, but Debian's does: trixie's
``python3`` is 3.13. ``python3 -m devtools.py313 build`` makes ``build/py313/`` (gitignored, about 0.8 GiB):

1. ``debootstrap --variant=minbase trixie`` from the mirror apt already uses (debootstrap's default when
   apt names none), with python3.13, its venv module, ``redis-server`` and ``libstdc++6`` (the host's ``node``,
   bind-mounted, needs it);
2. ``/opt/venv``, a 3.13 virtualenv with the work tree installed editable from ``/src`` (``.[test,docs,cluster]``,
   what ``make install`` installs), redone when ``pyproject.toml`` changes.

Each step leaves a marker, so a second build only checks them. Then

    python3 -m devtools.py313 run -- pytest tests/eventbus/test_fastacks.py -q

runs a command in the chroot, in ``/src``, with ``/proc``, ``/dev``, the work tree and the host's ``node`` mounted
for its duration (`mounted`); `command` builds the same argv for `bench.interpreters`, which starts benchmark servers
under 3.13. The chroot shares the network namespace: a server inside listening on 127.0.0.1 is reached by the load
generator outside. Needs root (chroot, mount); one user of the chroot at a time, since the last one out unmounts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROOT = ROOT / "build" / "py313"
SUITE = "trixie"
PACKAGES = ["python3.13", "python3.13-venv", "ca-certificates", "redis-server", "libstdc++6"]
EXTRAS = "test,docs,cluster"
SRC = "/src"
VENV = "/opt/venv"
NODE = "/usr/local/bin/node"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
INSTALL_HINT = "debootstrap is not installed: apt-get install debootstrap (make py313 installs it)"


def mirror(sources: pathlib.Path = pathlib.Path("/etc/apt"), codename: str | None = None) -> str | None:
    """The URI apt uses for the host's own Debian suite (``codename``), or ``None``: then debootstrap picks its default.

    Read from ``sources.list`` and ``sources.list.d`` (one-line and deb822 forms), so the chroot comes from
    wherever this machine already gets its packages.
    """
    codename = codename or _os_release().get("VERSION_CODENAME", "")
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*.list"))]
    for path in (p for p in files if p.is_file()):
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # without options: [signed-by=...]
            if len(words) >= 3 and words[0] == "deb" and words[2] == codename:
                return words[1]
    for path in sorted((sources / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = _deb822(stanza)
            if "deb" in fields.get("Types", "").split() and codename in fields.get("Suites", "").split():
                return fields.get("URIs", "").split()[0] if fields.get("URIs") else None
    return None


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def _os_release() -> dict[str, str]:
    path = pathlib.Path("/etc/os-release")
    text = path.read_text() if path.is_file() else ""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def build(root: pathlib.Path = CHROOT) -> None:
    """Make the chroot and its virtualenv, or check that they are current (see the module docs)."""
    started = time.monotonic()
    if not (root / ".debootstrapped").exists():
        _debootstrap(root)
    stamp = root / VENV.lstrip("/") / f".installed-{_pyproject_hash()}"
    if not stamp.exists():
        with mounted(root):
            if not (root / VENV.lstrip("/") / "bin" / "python").exists():
                _chroot(root, ["python3.13", "-m", "venv", VENV])
            _chroot(root, [f"{VENV}/bin/python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
            _chroot(root, [f"{VENV}/bin/python", "-m", "pip", "install", "--quiet", "-e", f"{SRC}[{EXTRAS}]"])
        for old in stamp.parent.glob(".installed-*"):
            old.unlink()
        stamp.touch()
    size = subprocess.run(["du", "-sh", "--one-file-system", str(root)], capture_output=True, text=True).stdout
    print(f"py313: {root} ready, {size.split()[0]}, {time.monotonic() - started:.0f} s", flush=True)
    print(f"py313: {version(root)}", flush=True)


def _debootstrap(root: pathlib.Path) -> None:
    if shutil.which("debootstrap") is None:
        raise FileNotFoundError(INSTALL_HINT)
    # A half-made tree (an interrupted run) is started afresh: debootstrap into a side directory, then rename.
    partial = root.with_name(root.name + ".partial")
    _delete(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial)]
    source = mirror()
    subprocess.run([*argv, *([source] if source else [])], check=True)
    (partial / "etc" / "resolv.conf").unlink(missing_ok=True)
    (partial / SRC.lstrip("/")).mkdir(exist_ok=True)
    (partial / ".debootstrapped").touch()
    partial.rename(root)


def _pyproject_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]


def _mounts() -> set[str]:
    return {line.split()[1] for line in pathlib.Path("/proc/self/mounts").read_text().splitlines()}


def _unmount_all(root: pathlib.Path) -> None:
    """Unmount whatever is still mounted under ``root`` (deepest first), e.g. after a killed run."""
    prefix = str(root.resolve()) + "/"
    for target in sorted((m for m in _mounts() if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", target], check=False)


@contextlib.contextmanager
def mounted(root: pathlib.Path = CHROOT, src: pathlib.Path = ROOT) -> Iterator[None]:
    """``/proc``, ``/dev`` (with ``/dev/shm``, ``/dev/pts``), the work tree at ``/src``, ``node`` and DNS in the chroot.

    What was already mounted is left as it was; what this call mounted is unmounted on the way out.
    """
    if os.geteuid() != 0:
        raise PermissionError("the py313 chroot needs root (chroot and mount)")
    if not (root / ".debootstrapped").exists():
        raise FileNotFoundError(f"no chroot at {root}: run make py313 first")
    # pip reaches the package index as the host does: the host's resolver and the CAs the host trusts (which may
    # include a proxy's, added to the bundle rather than through update-ca-certificates).
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    shutil.copyfile(CA_BUNDLE, root / CA_BUNDLE.lstrip("/"))
    plan: list[tuple[list[str], pathlib.Path]] = [
        (["-t", "proc", "proc"], root / "proc"),
        (["--rbind", "/dev"], root / "dev"),
        (["--bind", str(src)], root / SRC.lstrip("/")),
    ]
    node = shutil.which("node")
    if node is not None:
        (root / NODE.lstrip("/")).touch()
        plan.append((["--bind", node], root / NODE.lstrip("/")))
    done: list[pathlib.Path] = []
    try:
        for args, target in plan:
            if str(target) not in _mounts():
                subprocess.run(["mount", *args, str(target)], check=True)
                if args[0] == "--rbind":
                    # Unmounting a slave copy leaves the host's /dev/pts and /dev/shm mounted.
                    subprocess.run(["mount", "--make-rslave", str(target)], check=True)
                done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "--recursive", "--lazy", str(target)], check=False)


def command(argv: Sequence[str], root: pathlib.Path = CHROOT) -> list[str]:
    """``argv`` run in the chroot from ``/src`` with the virtualenv first on ``PATH`` (needs `mounted`).

    ``chroot`` and ``env`` both exec what follows, so the process keeps one pid: its CPU is read from /proc as
    the host's servers' is.
    """
    path = f"PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin"
    return ["chroot", str(root), "/usr/bin/env", f"--chdir={SRC}", "--unset=VIRTUAL_ENV", path, "HOME=/root", *argv]


def _chroot(root: pathlib.Path, argv: Sequence[str]) -> None:
    subprocess.run(command(argv, root), check=True, env=_environment())


def _environment() -> dict[str, str]:
    """The host's environment less what points at host paths (pip's local wheel directory, a virtualenv)."""
    dropped = ("PIP_FIND_LINKS", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")
    return {key: value for key, value in os.environ.items() if key not in dropped}


def version(root: pathlib.Path = CHROOT) -> str:
    """``Python 3.13.x`` as the chroot's virtualenv reports it."""
    argv = ["chroot", str(root), f"{VENV}/bin/python", "--version"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def versions(names: Sequence[str], root: pathlib.Path = CHROOT) -> dict[str, str]:
    """The versions of the distributions ``names`` installed in the chroot's virtualenv."""
    script = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    argv = ["chroot", str(root), f"{VENV}/bin/python", "-c", script, *names]
    found: dict[str, str] = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    return found


def remove(root: pathlib.Path = CHROOT) -> None:
    """Unmount what a killed run left mounted in the chroot, then delete it, never crossing into a mount.

    A plain ``rm -rf build/`` with ``/dev`` or the work tree still bound inside would delete them too.
    """
    for tree in (root, root.with_name(root.name + ".partial")):
        _delete(tree)


def _delete(tree: pathlib.Path) -> None:
    _unmount_all(tree)
    if tree.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(tree)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m devtools.py313", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="make build/py313 (debootstrap, python3.13, the virtualenv), or check it")
    sub.add_parser("remove", help="unmount whatever is left mounted in build/py313, then delete it")
    run = sub.add_parser("run", help="run a command in the chroot, in /src, e.g. run -- pytest tests/x -q")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.action == "build":
        build()
        return 0
    if args.action == "remove":
        remove()
        return 0
    command_argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    with mounted():
        return subprocess.run(command(command_argv), env=_environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
