"""The examples in codegen's docstrings run, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import codegen

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(codegen.__path__, prefix="codegen.") if info.name != "codegen.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)

    assert result.failed == 0
