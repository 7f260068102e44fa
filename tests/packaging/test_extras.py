"""A missing optional dependency fails naming the extra that brings it, and the pip command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codegen.cli import main as codegen_main
from events._extras import MissingExtraError, require


def test_require_returns_the_module_when_installed() -> None:
    assert require("json", "codegen", feature="JSON").dumps([]) == "[]"


def test_a_missing_module_names_the_extra_and_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    with pytest.raises(MissingExtraError) as caught:
        require("aiohttp", "client", feature="eventbus.testing's client")
    assert str(caught.value) == (
        "eventbus.testing's client needs the 'client' extra (aiohttp is not installed):"
        " pip install 'typed-eventbus[client]'"
    )
    assert isinstance(caught.value, ImportError)
    assert (caught.value.name, caught.value.extra) == ("aiohttp", "client")


def test_an_import_error_inside_an_installed_module_is_not_taken_for_a_missing_extra(tmp_path: Path) -> None:
    (tmp_path / "broken_dependency.py").write_text("import no_such_module_anywhere\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
            require("broken_dependency", "codegen", feature="codegen")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("broken_dependency", None)


def test_codegen_without_its_extra_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "datamodel_code_generator", None)
    assert codegen_main(["tests.sample", "--out", str(tmp_path / "out"), "--target", "ts,python"]) == 2
    assert capsys.readouterr().err == (
        "eventbus codegen: the Python SDK target (--target python) needs the 'codegen' extra"
        " (datamodel_code_generator is not installed): pip install 'typed-eventbus[codegen]'\n"
    )
    assert not (tmp_path / "out").exists()
