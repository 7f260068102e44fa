"""Optional dependencies: each comes with an extra of typed-eventbus, and a missing one fails naming that extra.

Here, in the bottom layer, so that ``eventbus`` and ``codegen`` share it without importing each other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

DISTRIBUTION = "typed-eventbus"


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it and the pip command."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the {extra!r} extra ({module} is not installed): pip install '{DISTRIBUTION}[{extra}]'",
            name=module,
        )
        self.feature = feature
        self.module = module
        self.extra = extra


def require(module: str, extra: str, *, feature: str) -> ModuleType:
    """Import ``module``, or raise `MissingExtraError` naming ``extra`` when it is not installed.

    Only the module's own absence is translated: an import error raised from inside an installed module
    (a broken install, a missing dependency of its own) propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(f"{exc.name}.")):
            raise
        raise MissingExtraError(feature, module, extra) from exc
