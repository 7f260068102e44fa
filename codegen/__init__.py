"""Code generation from the event registries: JSON Schema, TypeScript, zod, a Python SDK and AsyncAPI."""

from codegen.asyncapi import asyncapi_document, render_asyncapi
from codegen.diff import Change, breaking_changes
from codegen.exceptions import CodegenError, ModuleImportError, NameCollisionError
from codegen.jsonschema import json_schema, render_schema
from codegen.output import DEFAULT_TARGETS, TARGETS, Drift, check, generate, write
from codegen.python_sdk import render_python_sdk
from codegen.spec import Spec, build_spec, collect
from codegen.typescript import render_typescript
from codegen.zod import render_zod

__all__ = [
    "DEFAULT_TARGETS",
    "TARGETS",
    "Change",
    "CodegenError",
    "Drift",
    "ModuleImportError",
    "NameCollisionError",
    "Spec",
    "asyncapi_document",
    "breaking_changes",
    "build_spec",
    "check",
    "collect",
    "generate",
    "json_schema",
    "render_asyncapi",
    "render_python_sdk",
    "render_schema",
    "render_typescript",
    "render_zod",
    "write",
]
