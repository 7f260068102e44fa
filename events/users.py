"""The authenticated principal rooms decide on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class User:
    """Who a connection belongs to: an id (the personal room is ``user:{id}``) and the token's claims.

    Example:
        >>> User(id="42", claims={"sub": "42", "role": "admin"}).claims["role"]
        'admin'
    """

    id: str
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False)
