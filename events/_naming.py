"""Wire-name derivation shared by events and rooms."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``UserJoinedEvent`` -> ``user_joined_event``; acronyms stay together (``HTTPError`` -> ``http_error``)."""
    return _BOUNDARY.sub("_", name).lower()


def derive_name(class_name: str, suffix: str) -> str:
    """Snake-case a class name and drop a trailing ``_<suffix>`` (a suffix, never a set of characters)."""
    snake = snake_case(class_name)
    stripped = snake.removesuffix(f"_{suffix}")
    return stripped or snake
