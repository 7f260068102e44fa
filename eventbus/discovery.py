"""Importing a package's modules so the events, rooms and handlers they declare register."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from events.registry import rooms

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType

    from events import Room


def import_package(package: str) -> list[ModuleType]:
    """Import ``package`` and, when it is a package, every module under it, in name order.

    Example:
        >>> [m.__name__ for m in import_package("json")][:2]
        ['json', 'json.decoder']
    """
    root = importlib.import_module(package)
    modules = [root]
    if hasattr(root, "__path__"):
        found = pkgutil.walk_packages(root.__path__, prefix=f"{root.__name__}.")
        modules += [importlib.import_module(info.name) for info in sorted(found, key=lambda info: info.name)]
    return modules


def rooms_defined_in(modules: Iterable[ModuleType]) -> list[type[Room]]:
    """The registered room classes whose defining module is one of ``modules``."""
    names = {module.__name__ for module in modules}
    return [cls for cls in rooms if cls.__module__ in names]
