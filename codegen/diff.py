"""Breaking changes between two schema bundles: removed events, removed or retyped fields, new requirements.

What breaks depends on who reads: clients read server-to-client payloads, so a
removed or retyped field, or one that may now be absent, breaks them; the
server reads client-to-server payloads, so a removed event or field, a retyped
field, or a field old clients do not send but the server now requires, breaks them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from codegen.jsonschema import ref_name
from codegen.typescript import TypeWriter

DIRECTIONS = ("server_to_client", "client_to_server")
_DOC_KEYS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated"})


@dataclass(frozen=True, order=True)
class Change:
    """One breaking change, e.g. ``retyped field: client_to_server 'send_message' .text: string -> number``."""

    direction: str
    event: str
    kind: str
    path: str = ""
    detail: str = ""

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.kind}: {self.direction} {self.event!r}{where}{detail}"


class _Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any], direction: str, event: str) -> None:
        self.old_defs: dict[str, Any] = old.get("$defs", {})
        self.new_defs: dict[str, Any] = new.get("$defs", {})
        self.direction = direction
        self.event = event
        self.changes: list[Change] = []
        # Reference pairs being compared further up: a recursive model is compared once per path, not forever.
        self._open: set[tuple[str, str]] = set()

    def add(self, kind: str, path: str, detail: str = "") -> None:
        self.changes.append(Change(self.direction, self.event, kind, path, detail))

    def compare(self, old: Any, new: Any, path: str) -> None:
        pair = (_ref_key(old) or "", _ref_key(new) or "")
        if pair in self._open:
            return
        if all(pair):
            self._open.add(pair)
        try:
            self._compare(old, new, path)
        finally:
            self._open.discard(pair)

    def _compare(self, old: Any, new: Any, path: str) -> None:
        old_schema, new_schema = _resolve(old, self.old_defs), _resolve(new, self.new_defs)
        if _has_fields(old_schema) and _has_fields(new_schema):
            self.compare_fields(old_schema, new_schema, path)
        elif _is_list(old_schema) and _is_list(new_schema):
            self.compare(old_schema.get("items", {}), new_schema.get("items", {}), f"{path}[]")
        elif _normal(old_schema, self.old_defs, set()) != _normal(new_schema, self.new_defs, set()):
            before = TypeWriter(self.old_defs).type_of(old)
            after = TypeWriter(self.new_defs).type_of(new)
            self.add("retyped field" if path else "retyped payload", path, f"{before} -> {after}")

    def compare_fields(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, prop in old_props.items():
            field_path = f"{path}.{name}"
            if name not in new_props:
                self.add("removed field", field_path)
                continue
            self.compare(prop, new_props[name], field_path)
            if self.direction == "server_to_client" and name in old_required and name not in new_required:
                self.add("field became optional", field_path)
        if self.direction == "client_to_server":
            for name in sorted(new_required - old_required):
                self.add("newly required field", f"{path}.{name}", "" if name in old_props else "added")


def _ref_key(schema: Any) -> str | None:
    return ref_name(schema) if isinstance(schema, dict) else None


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    seen: set[str] = set()
    while isinstance(schema, dict) and (target := ref_name(schema)) is not None and target not in seen:
        seen.add(target)
        schema = defs.get(target, {})
    return schema


def _has_fields(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "object" and "properties" in schema


def _is_list(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "array" and "prefixItems" not in schema


def _normal(schema: Any, defs: dict[str, Any], seen: set[str]) -> Any:
    """The schema without documentation keys and with references inlined, so renames alone are no change."""
    if isinstance(schema, list):
        return [_normal(item, defs, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    target = ref_name(schema)
    if target is not None:
        if target in seen:
            return {"$recursive": True}
        return _normal(defs.get(target, {}), defs, seen | {target})
    return {key: _normal(value, defs, seen) for key, value in sorted(schema.items()) if key not in _DOC_KEYS}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every breaking change from bundle ``old`` to bundle ``new``, sorted.

    Example:
        >>> old = {"server_to_client": {"a": {"type": "object", "properties": {"x": {"type": "string"}}}}}
        >>> new = {"server_to_client": {"a": {"type": "object", "properties": {"x": {"type": "integer"}}}}}
        >>> [str(change) for change in breaking_changes(old, new)]
        ["retyped field: server_to_client 'a' .x: string -> number"]
    """
    changes: list[Change] = []
    for direction in DIRECTIONS:
        old_events: dict[str, Any] = old.get(direction, {})
        new_events: dict[str, Any] = new.get(direction, {})
        for event, payload in old_events.items():
            if event not in new_events:
                changes.append(Change(direction, event, "removed event"))
                continue
            comparison = _Comparison(old, new, direction, event)
            comparison.compare(payload, new_events[event], "")
            changes += comparison.changes
    return sorted(set(changes))


def load_bundle(text: str) -> dict[str, Any]:
    """Parse an ``events.schema.json``, refusing anything that is not one.

    Example:
        >>> load_bundle('{"server_to_client": {}}')
        {'server_to_client': {}}
    """
    data = json.loads(text)
    if not isinstance(data, dict) or not any(direction in data for direction in DIRECTIONS):
        raise ValueError("expected an events.schema.json with server_to_client/client_to_server maps")
    return data
