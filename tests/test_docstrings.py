"""Every ``>>>`` example in the docstrings of ``events``, ``eventbus`` and ``codegen`` runs and passes.

Each docstring is one test, run as ``doctest.testmod`` would (``ELLIPSIS | NORMALIZE_WHITESPACE``), in an empty
working directory. The examples of ``eventbus`` also see `tests.doctest_namespace` (an application's rooms, events and
a fresh ``bus``); those of ``events`` and ``codegen`` stand alone, and declare their own classes.

The registries are global, and the suite has registered its own ``MessageEvent`` and ``chat`` room, so while an example
runs they hold: for ``events`` and ``codegen``, the library's classes only; for ``eventbus``, the namespace's too, and
the suite's where their names do not clash with those. Afterwards the suite's are put back, with the classes of any
module an example imported (the module stays imported); what an example declared itself is gone.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import pathlib
import pkgutil
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import codegen
import eventbus
import events
from events import registry
from events._extras import MissingExtraError
from events.exceptions import NameConflictError

PACKAGES = (events, eventbus, codegen)
LIBRARY = tuple(package.__name__ for package in PACKAGES)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
NAMESPACE = "tests.doctest_namespace"
ROOT = pathlib.Path(__file__).parent.parent
REGISTRIES = (registry.server_events, registry.client_events, registry.rooms)

Entries = list[tuple[registry.Registry[type], str, str, type]]


def _module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package.__name__)
        found = pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
        names.extend(info.name for info in found if info.name.rpartition(".")[2] != "__main__")
    return sorted(names)


def _import(name: str) -> ModuleType | None:
    """The module, or ``None`` when it needs an extra that is not installed (the one allowed reason to skip)."""
    try:
        return importlib.import_module(name)
    except MissingExtraError:
        return None


def _docstrings() -> list[Any]:
    params = []
    for name in _module_names():
        module = _import(name)
        if module is None:
            params.append(pytest.param(name, "", id=name, marks=pytest.mark.skip(reason=f"{name} needs an extra")))
            continue
        for test in doctest.DocTestFinder().find(module):
            if test.examples:
                params.append(pytest.param(name, test.name, id=test.name))
    return params


def _entries() -> Entries:
    return [(reg, name, registry.app_of(cls), cls) for reg in REGISTRIES for name, cls in reg.items()]


def _load(entries: Entries) -> None:
    for reg in REGISTRIES:
        for cls in list(reg):
            reg.unregister(cls)
    for reg, name, app, cls in entries:
        reg.register(name, cls, app=app)


_states: dict[bool, Entries] = {}


def _imported(cls: type) -> bool:
    """Whether ``cls`` is a class of a module an example imported (not one the example itself declared)."""
    module = sys.modules.get(cls.__module__)
    return cls.__module__ != NAMESPACE and getattr(module, cls.__qualname__, None) is cls


def _add_fitting(entries: Entries) -> None:
    """Register those of ``entries`` whose names are free."""
    for reg, name, app, cls in entries:
        if reg.get(name, app) is None:
            with contextlib.suppress(NameConflictError):
                reg.register(name, cls, app=app)


@contextlib.contextmanager
def example_registries(*, with_namespace: bool) -> Iterator[None]:
    """The registries an example sees (see the module docstring); the suite's put back afterwards."""
    saved = _entries()
    try:
        if not _states:
            _load([entry for entry in saved if entry[3].__module__.partition(".")[0] in LIBRARY])
            _states[False] = _entries()
            importlib.import_module(NAMESPACE)
            _states[True] = _entries()
        _load(_states[with_namespace])
        if with_namespace:
            _add_fitting(saved)
        yield
    finally:
        added = [entry for entry in _entries() if entry not in saved and entry not in _states.get(True, [])]
        _load(saved + [entry for entry in added if _imported(entry[3])])


@pytest.mark.parametrize(("module", "docstring"), _docstrings())
def test_docstring_examples_pass(
    module: str, docstring: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here; no .env of the checkout is read
    monkeypatch.setattr(sys, "path", [*sys.path])  # codegen's main() puts the working directory on it
    with_namespace = module.partition(".")[0] == "eventbus"
    report = io.StringIO()
    with example_registries(with_namespace=with_namespace):
        extraglobs = importlib.import_module(NAMESPACE).namespace() if with_namespace else {}
        found = doctest.DocTestFinder().find(importlib.import_module(module), extraglobs=extraglobs)
        [test] = [t for t in found if t.name == docstring]
        result = doctest.DocTestRunner(optionflags=OPTIONS).run(test, out=report.write)

    assert result.failed == 0, report.getvalue()


SKIPPED = re.compile(r"#\s*doctest:\s*\+SKIP")
RUN_BY = re.compile(r"run by (tests/\S+\.py)")
# The text of the generated client's docstring, not one of ours: the golden files pin it, and doctest never sees it.
GENERATED = {"codegen/_sdk_template.py"}


def test_a_skipped_example_names_the_test_that_runs_the_same_code() -> None:
    unnamed = []
    for package in LIBRARY:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if relative in GENERATED or not SKIPPED.search(line):
                    continue
                named = RUN_BY.search(line)
                if named is None or not (ROOT / named.group(1)).is_file():
                    unnamed.append(f"{relative}:{number}: {line.strip()}")

    assert not unnamed, "a skipped example must say which test runs it (# run by tests/...):\n" + "\n".join(unnamed)


def test_serving_run_serves_until_interrupted() -> None:
    """The skipped example of `eventbus.serving.run`, for real: it blocks, serving, until Ctrl-C."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "from eventbus import EventBus\n"
        "from eventbus.serving import run\n"
        f"run(EventBus(allow_anonymous=True).asgi_app(), port={port})\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        handshake = _get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", server)
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=15)

    assert handshake.startswith('0{"sid":'), handshake
    assert server.returncode == 0, errors


DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy of the environment


def _get(url: str, server: subprocess.Popen[str], timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with DIRECT.open(url, timeout=2) as response:
                body: str = response.read().decode()
                return body
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode}: {server.communicate()[1]}")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
