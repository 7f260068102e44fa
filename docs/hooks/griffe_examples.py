"""Griffe extension for the reference pages: read a docstring's ``Example:`` section as an examples section.

The code's docstrings (Google style) title their doctests ``Example:``; griffe's Google
parser knows ``Examples:`` as the section whose ``>>>`` lines are code and renders a
singular ``Example:`` as an admonition of plain text, where Markdown then reads a
doctest's output such as ``[('message', ['chat:42'])]`` as a reference link.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from griffe import Extension

if TYPE_CHECKING:
    from griffe import Object

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(Extension):
    """Retitle ``Example:`` as ``Examples:`` in every docstring griffe loads."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Called for every module, class, function and attribute griffe visits."""
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
