"""Every ``>>>`` example in the docstrings of ``events``, ``eventbus`` and ``codegen`` runs and passes.

Each docstring is one test, run as ``doctest.testmod`` would (``ELLIPSIS | NORMALIZE_WHITESPACE``). The examples of
``eventbus`` also see `tests.doctest_namespace` (an application's rooms, events and a fresh ``bus``); those of
``events`` and ``codegen`` stand alone. While an example runs, the registries hold only the library's own classes and
the namespace's, so an example may declare a ``MessageEvent`` of its own and nothing it declares outlives it.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import pkgutil
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import codegen
import eventbus
import events
from events import registry
from events._extras import MissingExtraError

PACKAGES = (events, eventbus, codegen)
LIBRARY = tuple(package.__name__ for package in PACKAGES)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
NAMESPACE = "tests.doctest_namespace"
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


@contextlib.contextmanager
def example_registries(*, with_namespace: bool) -> Iterator[None]:
    """The library's classes registered (and the namespace's, ``with_namespace``); the suite's put back afterwards.

    Classes of modules an example imported stay registered, as they would after any import: the module stays imported.
    """
    saved = _entries()
    try:
        if not _states:
            _load([entry for entry in saved if entry[3].__module__.partition(".")[0] in LIBRARY])
            _states[False] = _entries()
            importlib.import_module(NAMESPACE)
            _states[True] = _entries()
        _load(_states[with_namespace])
        yield
    finally:
        added = [entry for entry in _entries() if entry not in saved and entry not in _states.get(True, [])]
        _load(saved + [entry for entry in added if _imported(entry[3])])


@pytest.mark.parametrize(("module", "docstring"), _docstrings())
def test_docstring_examples_pass(module: str, docstring: str) -> None:
    [test] = [t for t in doctest.DocTestFinder().find(importlib.import_module(module)) if t.name == docstring]
    with_namespace = module.partition(".")[0] == "eventbus"
    report = io.StringIO()
    with example_registries(with_namespace=with_namespace):
        if with_namespace:
            test.globs.update(importlib.import_module(NAMESPACE).namespace())
        result = doctest.DocTestRunner(optionflags=OPTIONS).run(test, out=report.write)

    assert result.failed == 0, report.getvalue()
