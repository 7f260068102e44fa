"""Errors raised while collecting the registries or generating code from them."""

from __future__ import annotations


class CodegenError(Exception):
    """Root of every error raised by the ``codegen`` package."""


class ModuleImportError(CodegenError, ImportError):
    """A module named on the command line could not be imported."""


class NameCollisionError(CodegenError, ValueError):
    """Two things would get the same name in generated code."""
