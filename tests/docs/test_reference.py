"""The reference pages render each name of ``eventbus.__all__`` and ``events.__all__`` that has a docstring.

mkdocstrings leaves out what has none, so a public name without a docstring is
missing from the docs without any error: this test names it instead.
"""

from __future__ import annotations

import griffe
import pytest

import eventbus
import events
from tests.docs.tutorial import ROOT

UNDOCUMENTED: dict[str, str] = {}  # name -> why it has no docstring yet (a strict xfail until it has one)


@pytest.fixture(scope="module")
def loaded() -> dict[str, griffe.Object | griffe.Alias]:
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    return {package: loader.load(package) for package in ("events", "eventbus")}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=UNDOCUMENTED[name], strict=True))
        if name in UNDOCUMENTED
        else name
        for name in [f"events.{n}" for n in events.__all__] + [f"eventbus.{n}" for n in eventbus.__all__]
    ],
)
def test_each_public_name_has_a_docstring_the_reference_renders(
    name: str, loaded: dict[str, griffe.Object | griffe.Alias]
) -> None:
    package, _, member = name.partition(".")

    assert loaded[package][member].docstring is not None, f"{name} has no docstring, so the reference leaves it out"
